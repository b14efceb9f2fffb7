"""Revenue scans as durable jobs: queued by the dashboard or the CLI, run by the worker.

A scan is a row. Workers claim one with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a single atomic
UPDATE on SQLite), like outbox rows; the claim is a lease, renewed with every page read. After
every page the checkpoint (phase, cursor, figures) is written, so a worker that dies or stops
leaves a scan that the next worker picks up where it stopped once the lease has run out. A worker
runs a scan in slices of a few seconds so the email outbox is never kept waiting. One scan at a
time per merchant (a partial unique index), and finished scans are kept with their date.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from cancelpage.billing import BillingError, ReadStats, gateway_for
from cancelpage.extensions import db
from cancelpage.models import Merchant, RevenueScan, utcnow
from cancelpage.scan.figures import Window
from cancelpage.scan.service import PHASES, Checkpoint, advance

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
ACTIVE = ("queued", "running")


class ScanAlreadyRunning(Exception):
    """The merchant's previous scan has not finished yet."""

    def __init__(self, scan: RevenueScan) -> None:
        super().__init__(f"scan {scan.id} is still {scan.status}")
        self.scan = scan


def active_scan(merchant: Merchant) -> RevenueScan | None:
    return db.session.scalar(
        sa.select(RevenueScan).where(
            RevenueScan.merchant_id == merchant.id, RevenueScan.status.in_(ACTIVE)
        )
    )


def start(merchant: Merchant, months: int = 12, now: datetime | None = None) -> RevenueScan:
    """Queue a scan of the last ``months`` calendar months (committed); refuses a second one."""
    if not 1 <= months <= 36:
        raise ValueError("a scan covers 1 to 36 months")
    running = active_scan(merchant)
    if running is not None:
        raise ScanAlreadyRunning(running)
    window = Window.ending(now or utcnow(), months)
    scan = RevenueScan(
        merchant_id=merchant.id,
        status="queued",
        months=months,
        window_start=window.start,
        window_end=window.end,
        simulated=merchant.stripe_key_encrypted is None,
        figures=Checkpoint().figures,
    )
    db.session.add(scan)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # queued at the same moment elsewhere: that one runs
        db.session.rollback()
        running = active_scan(merchant)
        if running is None:
            raise
        raise ScanAlreadyRunning(running) from None
    return scan


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        RevenueScan.status == "queued",
        sa.and_(
            RevenueScan.status == "running",
            sa.or_(RevenueScan.claimed_until.is_(None), RevenueScan.claimed_until < now),
        ),
    )


def claim(scan_id: int | None = None) -> tuple[RevenueScan, str] | None:
    """Claim the oldest scan waiting for a worker (or that one), with a fresh lease."""
    now = utcnow()
    while True:
        pick = sa.select(RevenueScan.id).where(_claimable(now)).order_by(RevenueScan.id).limit(1)
        if scan_id is not None:
            pick = pick.where(RevenueScan.id == scan_id)
        if db.engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        found = db.session.scalar(pick)
        if found is None:
            db.session.commit()
            return None
        token = secrets.token_hex(16)
        claimed = db.session.execute(
            sa.update(RevenueScan)
            # Checked again at the write: on SQLite another worker may have taken it since.
            .where(RevenueScan.id == found, _claimable(now))
            .values(
                status="running",
                claim_token=token,
                claimed_until=now + LEASE,
                started_at=sa.func.coalesce(RevenueScan.started_at, now),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if claimed:
            scan = db.session.get(RevenueScan, found, populate_existing=True)
            assert scan is not None
            return scan, token


def _save(scan_id: int, token: str, **values: object) -> bool:
    """Write progress (renewing the lease) only while this worker holds the claim."""
    saved = db.session.execute(
        sa.update(RevenueScan)
        .where(RevenueScan.id == scan_id, RevenueScan.claim_token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return saved == 1


def max_requests() -> int:
    return int(current_app.config["SCAN_MAX_REQUESTS"])


def run(
    scan: RevenueScan,
    token: str,
    *,
    seconds: float = math.inf,
    on_page: Callable[[RevenueScan], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RevenueScan:
    """Read pages until the scan is done or ``seconds`` have passed, saving after each page.

    Stopping early hands the scan back (no lease), so the next worker pass continues it.
    """
    merchant = db.session.get(Merchant, scan.merchant_id)
    assert merchant is not None
    gateway = gateway_for(merchant)
    window = Window(scan.window_start, scan.window_end)
    checkpoint = Checkpoint(scan.phase, scan.cursor, scan.objects_read, scan.figures)
    stats = ReadStats(max_requests=max_requests(), requests=scan.requests, sleep=sleep)
    stats.rate_limited = scan.rate_limited
    scan_id = scan.id
    deadline = time.monotonic() + seconds
    try:
        while not checkpoint.done and time.monotonic() < deadline:
            advance(gateway, window, checkpoint, stats)
            progress = {
                "phase": checkpoint.phase,
                "cursor": checkpoint.cursor,
                "objects_read": checkpoint.objects,
                "requests": stats.requests,
                "rate_limited": stats.rate_limited,
                "figures": checkpoint.figures,
                "claimed_until": utcnow() + LEASE,
            }
            if not _save(scan_id, token, **progress):
                log.warning("revenue scan %s: lease lost, another worker continues", scan_id)
                break
            if on_page is not None:
                on_page(_reload(scan_id))
    except BillingError as exc:
        log.warning("revenue scan %s failed: %s", scan_id, exc.message)
        _save(
            scan_id,
            token,
            status="failed",
            error=exc.message[:1000],
            requests=stats.requests,
            rate_limited=stats.rate_limited,
            claim_token=None,
            claimed_until=None,
            finished_at=utcnow(),
        )
        return _reload(scan_id)
    if checkpoint.done:
        _save(
            scan_id,
            token,
            status="done",
            claim_token=None,
            claimed_until=None,
            finished_at=utcnow(),
        )
    else:
        _save(scan_id, token, claim_token=None, claimed_until=None)
    return _reload(scan_id)


def _reload(scan_id: int) -> RevenueScan:
    scan = db.session.get(RevenueScan, scan_id, populate_existing=True)
    assert scan is not None
    return scan


def work(seconds: float = 10.0) -> RevenueScan | None:
    """One worker pass: continue the oldest waiting scan for up to ``seconds``."""
    claimed = claim()
    if claimed is None:
        return None
    return run(*claimed, seconds=seconds)


# --- what the dashboard shows ---------------------------------------------------------------------


def latest(merchant: Merchant) -> RevenueScan | None:
    return db.session.scalar(
        sa.select(RevenueScan)
        .where(RevenueScan.merchant_id == merchant.id)
        .order_by(RevenueScan.id.desc())
        .limit(1)
    )


def history(merchant: Merchant, limit: int = 20) -> list[RevenueScan]:
    return list(
        db.session.scalars(
            sa.select(RevenueScan)
            .where(RevenueScan.merchant_id == merchant.id)
            .order_by(RevenueScan.id.desc())
            .limit(limit)
        )
    )


def find(merchant: Merchant, scan_id: int) -> RevenueScan | None:
    """A scan of this merchant (never another merchant's)."""
    return db.session.scalar(
        sa.select(RevenueScan).where(
            RevenueScan.id == scan_id, RevenueScan.merchant_id == merchant.id
        )
    )


def phase_label(scan: RevenueScan) -> str:
    if scan.phase >= len(PHASES):
        return "Finished"
    return f"Step {scan.phase + 1} of {len(PHASES)}: {PHASES[scan.phase].label}"


def window_of(scan: RevenueScan) -> Window:
    return Window(scan.window_start, scan.window_end)
