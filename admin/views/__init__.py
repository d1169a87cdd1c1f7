"""Pages (blueprints). Each view: load in scope → call workflow → commit once → render."""
from flask import Flask


def register_views(app: Flask) -> None:
    from .auth import bp as auth_bp
    from .files import bp as files_bp
    from .home import bp as home_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(files_bp)
