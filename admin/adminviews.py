"""Flask-Admin views over one scoped base class."""
from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme


def init_admin(app: Flask) -> Admin:
    admin = Admin(app, name="保学", theme=Bootstrap4Theme(swatch=app.config["FLASK_ADMIN_SWATCH"], fluid=True))
    return admin
