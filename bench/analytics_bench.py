"""Benchmark the analytics dashboard and CSV export on one merchant with many sessions.

Prints figures; it is not a test. Loads N simulated sessions (default 1,000,000, all inside the
last 91 days so every dashboard query reads all of them) and M failed invoices (default 100,000),
then times each dashboard query, the whole page and the CSV exports (rows/s; peak RSS of a fresh
process that only exports sessions).

    python bench/analytics_bench.py sqlite:////tmp/cp_bench.sqlite
    python bench/analytics_bench.py postgresql://postgres@127.0.0.1:5432/cp_bench
    python bench/analytics_bench.py URL --sessions 100000     # a quicker run
    python bench/analytics_bench.py URL --cases 1000000       # more failed invoices
    python bench/analytics_bench.py URL --skip-load           # time again, keep the data

The database is emptied first (drop_all): point it at a database of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import figure

from cancelpage import analytics, create_app
from cancelpage.analytics import rollups, simulate
from cancelpage.config import normalise_database_url
from cancelpage.extensions import db
from cancelpage.merchants import accounts
from cancelpage.merchants.store import by_slug, create_merchant, publish_flow
from cancelpage.models import CancelSession, RecoveryCase, SubscriptionStatus

SLUG = "bench"
QUERY_TARGET = {"PostgreSQL": 0.2, "SQLite": 1.0}  # seconds, each dashboard query (median)
PAGE_TARGET = 1.0  # seconds, the whole signed-in page
BATCH = 20_000
JSON_COLUMNS = ("attributes", "snapshot", "state", "offers_shown", "outcome_detail", "assignments")


EMAIL, PASSWORD = "owner@bench.example", "bench-password-long-enough"
# As production runs: rate limits on, against Redis (the sign-in is limited per address).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def make_app(url: str) -> Any:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(url),
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": REDIS_URL,
        }
    )


def rows(
    count: int, merchant_id: int, version_id: int, now: datetime
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(session row, its status rows); retention flags worked out as record_subscription_status
    would (one call per change would take an hour for a million sessions)."""
    for sim in simulate.generate(count, now, seed=11):
        row = simulate.session_row(sim, merchant_id, version_id, "bench")
        for days in analytics.RETENTION_DAYS:
            row[f"retained_{days}"] = analytics.retained_at(
                sim.created_at, "active", sim.statuses, sim.created_at + timedelta(days=days)
            )
        statuses = [
            {
                "merchant_id": merchant_id,
                "subscription_id": sim.subscription_id,
                "status": status,
                "changed_at": moment,
                "recorded_at": now,
            }
            for moment, status in sim.statuses
        ]
        yield row, statuses


def load_cases(engine: sa.Engine, count: int, merchant_id: int, now: datetime) -> None:
    """Failed invoices, inserted in batches (executemany) on either engine."""
    batch: list[dict[str, Any]] = []
    for case in simulate.generate_cases(count, now, seed=11):
        batch.append(simulate.case_row(case, merchant_id, "bench"))
        if len(batch) >= BATCH:
            with engine.begin() as conn:
                conn.execute(RecoveryCase.__table__.insert(), batch)
            batch.clear()
    if batch:
        with engine.begin() as conn:
            conn.execute(RecoveryCase.__table__.insert(), batch)


def load(url: str, count: int, cases: int, now: datetime) -> None:
    app = make_app(url)
    with app.app_context():
        db.drop_all()
        db.create_all()
        merchant = create_merchant(SLUG, "Bench Co")
        accounts.create_user(merchant, EMAIL, PASSWORD)
        version = publish_flow(merchant, simulate.simulation_flow())
        db.session.commit()
        engine = db.engine
        started = time.perf_counter()
        if engine.dialect.name == "postgresql":
            load_postgresql(engine, rows(count, merchant.id, version.id, now))
        else:
            load_sqlite(engine, rows(count, merchant.id, version.id, now))
        took = time.perf_counter() - started
        print(f"loaded {count:,} sessions in {took:.1f} s ({count / took:,.0f} rows/s)")
        started = time.perf_counter()
        cells = rollups.rebuild(merchant.id)  # the bulk load bypassed the ORM
        db.session.commit()
        took = time.perf_counter() - started
        print(f"rebuilt the dashboard's rollups: {cells:,} cells in {took:.1f} s")
        started = time.perf_counter()
        load_cases(engine, cases, merchant.id, now)
        took = time.perf_counter() - started
        print(f"loaded {cases:,} failed invoices in {took:.1f} s")
        started = time.perf_counter()
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        else:
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
        print(f"analyzed in {time.perf_counter() - started:.1f} s")
        db.session.remove()
        engine.dispose()


def load_sqlite(
    engine: sa.Engine, source: Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> None:
    """executemany in batches, inside one transaction per batch."""
    with engine.begin() as conn:
        conn.execute(sa.text("PRAGMA journal_mode=WAL"))
    sessions: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(CancelSession.__table__.insert(), sessions)
            if statuses:
                conn.execute(SubscriptionStatus.__table__.insert(), statuses)
        sessions.clear()
        statuses.clear()

    for row, changes in source:
        sessions.append(row)
        statuses.extend(changes)
        if len(sessions) >= BATCH:
            flush()
    if sessions:
        flush()


def load_postgresql(
    engine: sa.Engine, source: Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> None:
    """COPY FROM STDIN, one stream per table."""
    columns: list[str] | None = None
    status_columns = ["merchant_id", "subscription_id", "status", "changed_at", "recorded_at"]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        pending_statuses: list[dict[str, Any]] = []
        first = next(source)
        columns = list(first[0])
        with cursor.copy(f"COPY cancel_session ({', '.join(columns)}) FROM STDIN") as copy:
            for row, changes in _chain(first, source):
                copy.write_row(
                    [json.dumps(row[c]) if c in JSON_COLUMNS else row[c] for c in columns]
                )
                pending_statuses.extend(changes)
        with cursor.copy(
            f"COPY subscription_status ({', '.join(status_columns)}) FROM STDIN"
        ) as copy:
            for change in pending_statuses:
                copy.write_row([change[c] for c in status_columns])
        raw.commit()
    finally:
        raw.close()


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def timed(label: str, run: Callable[[], Any], target: float | None, repeat: int = 3) -> float:
    """Run `repeat` times; print min/median/max in seconds beside the target (median below)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    figure(label, times, target, " s", lower=True)
    return statistics.median(times)


def signed_in_page(app: Any) -> Callable[[], Any]:
    """GET /admin/analytics/ as a signed-in user (through the login form, CSRF token and all):
    each call must be the page itself, 200 with its figures, never the login page."""
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page
    answer = client.post(
        "/admin/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.status_code

    def get() -> None:
        response = client.get("/admin/analytics/")
        body = response.get_data(as_text=True)
        assert response.status_code == 200, response.status_code
        assert "Retention analytics" in body, body[:500]
        assert "Weekly trend" in body, body[:500]

    return get


def measure(url: str, now: datetime) -> None:
    app = make_app(url)
    with app.app_context():
        merchant = by_slug(SLUG)
        assert merchant is not None
        total = db.session.scalar(sa.select(sa.func.count()).select_from(CancelSession))
        cases = db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCase))
        print(
            f"{db.engine.dialect.name}: {total:,} sessions, {cases:,} failed invoices; "
            f"load average {os.getloadavg()}"
        )
        quarter = analytics.Filters.from_args({}, now.date())
        with_comment = analytics.comments(merchant.id, quarter, limit=25)
        print("dashboard queries (all sessions in range):")
        groups = analytics.outcome_groups(merchant, quarter)
        queries: list[tuple[str, Callable[[], Any]]] = [
            ("overview (counts, saved MRR)", lambda: analytics.overview(merchant, quarter)),
            ("retention 30/60/90", lambda: analytics.retention(merchant.id, quarter, now)),
            ("reasons", lambda: analytics.reasons(merchant, quarter)),
            ("comments, first page", lambda: analytics.comments(merchant.id, quarter)),
            (
                "comments, next page",
                lambda: analytics.comments(merchant.id, quarter, before=with_comment.next_before),
            ),
            ("comments, search 'xero'", lambda: analytics.comments(merchant.id, quarter, "xero")),
            (
                "offers (shares the overview's read)",
                lambda: analytics.offers(merchant, quarter, now, groups),
            ),
            ("weekly trend", lambda: analytics.weekly(merchant.id, quarter)),
            ("experiments (arms + verdict)", lambda: analytics.experiments(merchant, quarter, now)),
            (
                "failed payments (dunning summary)",
                lambda: analytics.dunning_summary(merchant, quarter, now),
            ),
        ]
        segments = {
            "plan=Team": {"plan": "Team"},
            "reason=unused": {"reason": "unused"},
            "offer=pause_1m": {"offer": "pause_1m"},
            "arm=holdout": {"experiment": simulate.SIM_EXPERIMENT, "arm": "holdout"},
        }
        for name, args in segments.items():
            f = analytics.Filters.from_args(args, now.date())
            queries.append((f"overview, {name}", lambda f=f: analytics.overview(merchant, f)))
        engine = "PostgreSQL" if db.engine.dialect.name == "postgresql" else "SQLite"
        target = QUERY_TARGET[engine]
        slowest = max(timed(f"{engine} {label}", run, target) for label, run in queries)
        print(f"slowest dashboard query (median): {slowest:.3f} s")
        timed(
            f"{engine} dunning CSV export (all cases)",
            lambda: sum(len(c) for c in analytics.export_dunning(merchant.id, quarter, now)),
            None,
            repeat=1,
        )
        db.session.remove()
    timed(f"{engine} signed-in page GET /admin/analytics/", signed_in_page(app), PAGE_TARGET)
    export(url, now)


def export(url: str, now: datetime) -> None:
    """The CSV export in a fresh process, so its peak RSS is the export's own."""
    result = subprocess.run(
        [sys.executable, __file__, url, "--export-only", "--now", now.isoformat()],
        check=True,
        capture_output=True,
        text=True,
    )
    print(result.stdout.strip())


def peak_rss_kib() -> int:
    """This process's peak RSS. /proc's VmHWM starts afresh at exec; ru_maxrss would carry the
    parent's peak into the child on Linux."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def export_only(url: str, now: datetime) -> None:
    app = make_app(url)
    with app.app_context():
        merchant = by_slug(SLUG)
        assert merchant is not None
        quarter = analytics.Filters.from_args({}, now.date())
        before = peak_rss_kib()
        started = time.perf_counter()
        lines = size = 0
        for chunk in analytics.export_sessions(merchant.id, quarter, now):
            lines += chunk.count("\r\n")
            size += len(chunk.encode())
        took = time.perf_counter() - started
        peak = peak_rss_kib()
        print(
            f"CSV export: {lines - 1:,} rows, {size / 1e6:,.0f} MB in {took:.1f} s "
            f"({(lines - 1) / took:,.0f} rows/s); peak RSS {peak / 1024:,.0f} MiB "
            f"(before export {before / 1024:,.0f} MiB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="database URL (own database: it is emptied)")
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=100_000, help="failed invoices")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    if args.export_only:
        export_only(args.url, now)
        return
    if not args.skip_load:
        load(args.url, args.sessions, args.cases, now)
    measure(args.url, now)


if __name__ == "__main__":
    main()
