"""The Alembic migrations build exactly the models' schema, on SQLite and on PostgreSQL.

The migration runs against its own fresh database (a temp SQLite file, or `<test db>_mig` on
PostgreSQL) so it never touches the tables of the session-wide `app` fixture.
"""
from __future__ import annotations

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, text

from admin.app import create_app
from admin.extensions import db as _db
from models import Base


@pytest.fixture(scope="module")
def fresh_database_url(database_url, tmp_path_factory):
    """An empty database of the same kind as the test database, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path_factory.mktemp('migrations') / 'migrations.db'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_mig"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Module scope: the app is built before the autouse fixture pushes the test app's context.
@pytest.fixture(scope="module")
def migration_app(fresh_database_url, tmp_path_factory):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": fresh_database_url,
                      "UPLOAD_DIR": str(tmp_path_factory.mktemp("migration_uploads"))})
    yield app
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def migration_ctx(migration_app):
    with migration_app.app_context():
        yield migration_app
        _db.session.remove()


def _constraint_names(inspector, table: str) -> set[str]:
    names = {fk["name"] for fk in inspector.get_foreign_keys(table)}
    names |= {uq["name"] for uq in inspector.get_unique_constraints(table)}
    names |= {ix["name"] for ix in inspector.get_indexes(table)}
    names.add(inspector.get_pk_constraint(table)["name"])
    return names


def _model_constraint_names(table) -> set[str]:
    names = {c.name for c in table.constraints if c.name and not c.name.startswith("ck_")}
    return names | {ix.name for ix in table.indexes}


def test_migrations_have_a_single_head(migration_ctx):
    script = ScriptDirectory.from_config(migration_ctx.extensions["migrate"].migrate.get_config())
    assert len(script.get_heads()) == 1


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(migration_ctx):
    flask_migrate.upgrade()
    engine = _db.engine
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        inspector = inspect(conn)
        assert set(inspector.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        # Constraint names come from models/base.py's naming convention on every database, so a
        # later migration can drop a constraint by the same name on SQLite and PostgreSQL.
        for name, table in Base.metadata.tables.items():
            assert _constraint_names(inspector, name) == _model_constraint_names(table), name

    flask_migrate.downgrade(revision="base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
