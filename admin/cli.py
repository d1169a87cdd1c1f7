"""CLI commands: create-admin, demo-data, sweep (db comes from Flask-Migrate).

A command runs outside any request, so it is its own transaction boundary: create-admin and
demo-data commit once, at their end (a failure before it writes nothing); the sweep commits after
each batch of schools, so a crash after batch k keeps batches 1..k and a re-run finds them done.
"""
import click
from flask import Flask, current_app
from sqlalchemy import exists, select

from models import RoleAssignment, School, User
from workflow.demo import DEMO_PASSWORD

from .extensions import db
from .ops_cli import register_ops_cli

# The demo generators (and Faker, a development-only package) are imported inside demo-data, so a
# production install without Faker starts and lists every command.
DEFAULT_DEMO_SEED = 2026


def register_cli(app: Flask) -> None:
    register_ops_cli(app)  # backup, restore (admin/ops_cli.py)

    @app.cli.command("create-admin")
    @click.option("--username", required=True)
    @click.option("--password", default=None,
                  help="Omit it to be asked (hidden, twice): a password on the command line stays in the shell history.")
    @click.option("--name", default="系统管理员")
    def create_admin(username: str, password: str | None, name: str):
        """Create (or reset the password of) a system administrator. The password must pass the
        policy (workflow.access.accounts.password_problem); a reset ends the admin's sessions."""
        from workflow.access.accounts import password_problem, set_password

        if password is None:
            password = click.prompt("密码", hide_input=True, confirmation_prompt=True)
        problem = password_problem(password, username)
        if problem:
            raise click.ClickException(problem)
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            user = User(username=username, name=name)
            user.set_password(password)
            db.session.add(user)
        else:
            set_password(db.session, user, password)  # a reset ends the admin's sessions and tokens
        user.is_active = True
        if "admin" not in user.role_codes():
            user.roles.append(RoleAssignment(role="admin"))
        db.session.commit()
        click.echo(f"管理员 {username} 已就绪")

    @app.cli.command("demo-data")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has a school.")
    @click.option("--seed", type=int, default=DEFAULT_DEMO_SEED, show_default=True,
                  help="Same seed, same names and numbers.")
    @click.option("--force", is_flag=True, help="Allow loading demo accounts outside development and testing.")
    def demo_data(if_empty: bool, seed: int, force: bool):
        """Load the demo township: schools, villages, classes, students, staff, calendar, three past
        school years (classes, enrolment history, graduates, dropouts and returns, exam scores,
        baselines), demo cases in every state and the catchment registers."""
        # 79 accounts sharing one published password must never land in production by accident.
        if current_app.config.get("ENV_NAME") == "production" and not force:
            raise click.ClickException("这是生产环境（BAOXUE_ENV=production）：演示数据会添加共用密码的演示账号，"
                                       "确需载入请加 --force。")
        try:
            from workflow.demo.cases import build_demo_cases
            from workflow.demo.history import PAST_YEARS, build_demo_history, finish_demo_history
            from workflow.demo.township import build_demo_world
        except ImportError as exc:
            raise click.ClickException(f"演示数据需要开发依赖（make install）：{exc}") from None
        if db.session.scalar(select(exists().where(School.id.is_not(None)))):
            if if_empty:
                click.echo("数据库中已有学校，跳过演示数据。")
                return
            raise click.ClickException("数据库中已有学校：演示数据只能载入空数据库（可加 --if-empty 跳过）。")
        from .storage import current_store

        store = current_store()  # the configured store (a folder, or the database)
        world = build_demo_world(db.session, seed=seed)
        # past school years first: the demo cases then pick among the children still at school
        history = build_demo_history(db.session, world, store=store)
        cases = build_demo_cases(db.session, world, today=world.today, store=store)
        history.update(finish_demo_history(db.session, world))
        summary = world.summary()
        db.session.commit()
        click.echo(
            f"演示数据已载入：{summary['center']} 及 {len(summary['branches'])} 所村小/教学点，"
            f"{summary['villages']} 个村，{summary['classes']} 个班，{summary['students']} 名学生，"
            f"{summary['users']} 个账号（密码 {DEMO_PASSWORD}），"
            f"{sum(sum(s.values()) for s in cases['cases'].values())} 个案件；"
            f"往年（{'、'.join(PAST_YEARS)}）{history['graduates']} 名毕业生、{history['stories']} 名往年辍学学生，"
            f"{history['exam_scores'] + history['midterm_scores']} 条考试成绩，{history['catchment']} 条适龄儿童登记。"
        )
        for line in cases["skipped"]:
            click.echo(f"未能生成演示案件：{line}", err=True)

    @app.cli.command("sweep")
    @click.option("--date", "day", default=None, help="YYYY-MM-DD; default: today (school time zone).")
    @click.option("--school-id", type=int, default=None, help="Sweep this school only.")
    @click.option("--shard", default=None, help="k/N: only schools whose id % N == k (parallel workers).")
    def sweep(day: str | None, school_id: int | None, shard: str | None):
        """Daily sweep: absence ladder escalation, returns, overdue flags. Commits per batch of schools (up to 200); a re-run after a crash reaches the same end state."""
        import datetime as dt

        from workflow import clock
        from workflow.absence.sweep import parse_shard, run_sweep, schools_to_sweep
        from workflow.errors import DomainError

        try:
            date = dt.date.fromisoformat(day) if day else clock.today()
        except ValueError:
            raise click.BadParameter("须为 YYYY-MM-DD", param_hint="--date") from None
        try:
            ids = schools_to_sweep(db.session, school_ids=[school_id] if school_id is not None else None,
                                   shard=parse_shard(shard))
            if school_id is not None and not ids:
                raise click.ClickException(f"学校 {school_id} 不存在（或不在该分片中）")
            with click.progressbar(length=len(ids), label=f"清扫 {date.isoformat()}") as bar:
                summary = run_sweep(db.session, date=date, school_ids=ids, commit=db.session.commit,
                                    progress=lambda _school, _summary: bar.update(1))
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        click.echo(
            f"{date.isoformat()} 清扫完成：{summary.schools} 所学校，新开缺勤案件 {summary.opened} 件，"
            f"升级 {summary.escalated} 件，返校结案 {summary.closed} 件，新增逾期 {summary.overdue} 件。"
        )
        if summary.missing_attendance:
            click.echo(f"另有 {len(summary.missing_attendance)} 个班级日未登记考勤（计数暂停）。")
