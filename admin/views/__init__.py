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
