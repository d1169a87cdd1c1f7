"""CLI commands: create-admin, demo-data (db comes from Flask-Migrate)."""
import click
from flask import Flask
from sqlalchemy import select

from models import RoleAssignment, User

from .extensions import db


def register_cli(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--username", required=True)
    @click.option("--password", required=True)
    @click.option("--name", default="系统管理员")
    def create_admin(username: str, password: str, name: str):
        """Create (or reset the password of) a system administrator."""
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            user = User(username=username, name=name)
            db.session.add(user)
        user.set_password(password)
        user.is_active = True
        if "admin" not in user.role_codes():
            user.roles.append(RoleAssignment(role="admin"))
        db.session.commit()
        click.echo(f"管理员 {username} 已就绪")
