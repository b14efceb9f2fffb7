"""Transient database failures: SQLite "database is locked", PostgreSQL serialization failures
and deadlocks. Units of work that only touch the database are retried a few times; anything else
rolls back and shows the customer a clear "try again" step (see web/errors.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app

from cancelpage.extensions import db

T = TypeVar("T")

# serialization_failure, deadlock_detected
RETRYABLE_SQLSTATES = ("40001", "40P01")


def is_transient(error: BaseException) -> bool:
    """True when the same unit of work, started again, can be expected to succeed."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    orig = error.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, sa.exc.OperationalError) and "database is locked" in str(orig)


def retrying(work: Callable[[], T]) -> T:
    """Run a database-only unit of work (it must commit itself), retrying transient failures.

    Only for work with no effect outside the database: after a rollback it runs again from the
    start, re-reading whatever it needs.
    """
    attempts = max(1, int(current_app.config["DB_RETRY_ATTEMPTS"]))
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except sa.exc.DBAPIError as error:
            db.session.rollback()
            if attempt == attempts or not is_transient(error):
                raise
            time.sleep(0.02 * 2**attempt)  # 40 ms, 80 ms: a lock holder usually finishes by then
    raise AssertionError("unreachable")


def reads_without_transaction() -> None:
    """PostgreSQL: this request's reads run outside a transaction (no BEGIN and no ROLLBACK
    round trips; each statement sees the latest commits). Call it before the first statement,
    and `db.session.commit()` before anything writes: the next statement then starts a
    transaction as usual. SQLite: nothing to save, nothing changes."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def init_app(app: Flask) -> None:
    """SQLite: write-ahead log, so readers never wait for a writer and a commit costs one
    fsync at checkpoints instead of one per transaction (durable across process crashes)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
