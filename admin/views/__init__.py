"""Pages (blueprints). Each view: load in scope → call workflow → render; the request boundary
(admin/boundary.py) commits once, or rolls back when the answer is an error."""
from flask import Flask


def register_views(app: Flask) -> None:
    from .attendance import bp as attendance_bp
    from .auth import bp as auth_bp
    from .cases import bp as cases_bp
    from .figures import bp as figures_bp
    from .files import bp as files_bp
    from .home import bp as home_bp
    from .liaison import bp as liaison_bp
    from .oversight import bp as oversight_bp
    from .queue import bp as queue_bp
    from .registers import bp as registers_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(files_bp)
    app.register_blueprint(figures_bp)
    app.register_blueprint(liaison_bp)
    # pages of issue 5 (queue, case, oversight, attendance)
    for bp in (queue_bp, cases_bp, oversight_bp, attendance_bp):
        app.register_blueprint(bp)
    app.register_blueprint(registers_bp)
    from .schoolyear import bp as school_year_bp

    app.register_blueprint(school_year_bp)
    from .support import bp as support_bp  # issue 15: learning files, aid, survey, fee schedule
    app.register_blueprint(support_bp)
    from .monthly import bp as monthly_bp  # issue 14: monthly reports and the county's pages
    app.register_blueprint(monthly_bp)
    from .search import bp as search_bp  # issue 12: the search box of every staff page
    app.register_blueprint(search_bp)
    from .checks import bp as checks_bp  # issue 14: suspected-dropout checks, comparisons, close-watch
    app.register_blueprint(checks_bp)
    from .exports import bp as exports_bp  # issue 12: Excel of the weekly report and class figures
    app.register_blueprint(exports_bp)

    # A page that asks workflow for something out of scope, or not allowed, answers the Chinese
    # 404/403 page; the API blueprint's own DomainError handler keeps the JSON format there.
    from werkzeug import exceptions

    from workflow.errors import Forbidden, NotFound

    from .queue import page_error

    @app.errorhandler(NotFound)
    def _domain_not_found(exc):
        return page_error(exceptions.NotFound())

    @app.errorhandler(Forbidden)
    def _domain_forbidden(exc):
        return page_error(exceptions.Forbidden())
