"""The Alembic migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import flask_migrate
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from cancelpage.extensions import db

# Covering indexes exist on one engine each (models.py, analytics section: Index.ddl_if).
OTHER_ENGINE_INDEX = {
    "postgresql": "ix_session_analytics_lite",
    "sqlite": "ix_session_analytics_pg",
}


def schema_differences() -> list[Any]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    skip = OTHER_ENGINE_INDEX[db.engine.dialect.name]
    return [d for d in differences if not (d[0] == "add_index" and d[1].name == skip)]


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(app: Flask) -> None:
    with app.app_context():
        db.drop_all()
        flask_migrate.upgrade()
        assert schema_differences() == []
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"merchant", "cancel_session", "stripe_write", "outbox_email"} <= tables
        flask_migrate.downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()  # the fixture's teardown drops what it expects to find


def test_the_app_runs_on_a_migrated_database(app: Flask) -> None:
    with app.app_context():
        db.drop_all()
        flask_migrate.upgrade()
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "/c/" in result.output
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
