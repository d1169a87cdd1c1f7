"""CLI commands: create-admin, demo-data (db comes from Flask-Migrate)."""
import click
from flask import Flask
from sqlalchemy import exists, select

from models import RoleAssignment, School, User
from workflow.demo import DEFAULT_SEED, DEMO_PASSWORD, build_demo

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

    @app.cli.command("demo-data")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has a school.")
    @click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                  help="Same seed, same names and numbers.")
    def demo_data(if_empty: bool, seed: int):
        """Load the demo township: schools, villages, classes, students, staff, calendar."""
        if db.session.scalar(select(exists().where(School.id.is_not(None)))):
            if if_empty:
                click.echo("数据库中已有学校，跳过演示数据。")
                return
            raise click.ClickException("数据库中已有学校：演示数据只能载入空数据库（可加 --if-empty 跳过）。")
        summary = build_demo(db.session, seed=seed)
        db.session.commit()
        click.echo(
            f"演示数据已载入：{summary['center']} 及 {len(summary['branches'])} 所村小/教学点，"
            f"{summary['villages']} 个村，{summary['classes']} 个班，{summary['students']} 名学生，"
            f"{summary['users']} 个账号（密码 {DEMO_PASSWORD}）。"
        )
