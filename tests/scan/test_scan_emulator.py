"""The revenue scan against the Stripe emulator: a small account's figures equal the ones worked
out by hand, with a known number of requests, through 429s and a worker that dies half-way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from support import scan_support
from support.stripe_emulator import StripeEmulator

from cancelpage.billing import Gateway
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug, create_merchant
from cancelpage.models import RevenueScan, utcnow
from cancelpage.scan import figures, jobs


@pytest.fixture
def emu(app: Flask) -> Iterator[StripeEmulator]:
    with StripeEmulator(now=int(scan_support.NOW.timestamp())) as emulator:
        scan_support.seed_small_account(emulator)
        app.extensions["cancelpage.gateway"] = lambda m: Gateway.for_key(
            m.stripe_key() or "",
            api_base=emulator.url,
            http_client=emulator.http_client(),
            max_network_retries=0,
        )
        with app.app_context():
            create_merchant("acme", "Acme", stripe_key="sk_test_scan17abcdef")
            db.session.commit()
        yield emulator


def start_scan() -> RevenueScan:
    return jobs.start(by_slug("acme"), scan_support.MONTHS, now=scan_support.NOW)


def no_sleep(seconds: float) -> None:
    """Backoff without waiting (the waits are asserted through the 429 count)."""


def test_a_small_account_gives_the_hand_computed_figures(app: Flask, emu: StripeEmulator) -> None:
    with app.app_context():
        scan = jobs.run(*jobs.claim(start_scan().id), sleep=no_sleep)
        assert scan.status == "done", scan.error
        assert scan.figures["months"] == scan_support.EXPECTED_MONTHS
        assert scan.figures["now"] == scan_support.EXPECTED_NOW
        assert scan.requests == scan_support.EXPECTED_REQUESTS
        assert scan.objects_read == scan_support.EXPECTED_OBJECTS
        assert not scan.simulated
        usd = {
            p.label: (p.low, p.high)
            for p in figures.projections(scan.figures, "usd", figures.Rates())
        }
        # 40-60% of 14900 + 6500 voluntary; 15-25% of 16920 involuntary.
        assert usd == {"Cancel flow": (8560, 12840), "Dunning": (2538, 4230)}
    assert len(emu.requests_to("GET")) == scan_support.EXPECTED_REQUESTS
    assert emu.requests_to("POST") == []
    assert emu.requests_to("DELETE") == []


def test_rate_limits_are_waited_out_and_counted(app: Flask, emu: StripeEmulator) -> None:
    emu.inject("429", method="GET", path="/v1/subscriptions", nth=2, times=2)
    waits: list[float] = []
    with app.app_context():
        scan = jobs.run(*jobs.claim(start_scan().id), sleep=waits.append)
        assert scan.status == "done", scan.error
        assert scan.figures["months"] == scan_support.EXPECTED_MONTHS
        assert scan.rate_limited == 2
        assert scan.requests == scan_support.EXPECTED_REQUESTS + 2
    assert len(waits) == 2
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 2.0


class WorkerDied(Exception):
    pass


def test_a_scan_stopped_half_way_resumes_from_its_checkpoint(
    app: Flask, emu: StripeEmulator
) -> None:
    pages: list[int] = []

    def die_after_four_pages(scan: RevenueScan) -> None:
        pages.append(scan.phase)
        if len(pages) == 4:
            raise WorkerDied

    with app.app_context():
        scan_id = start_scan().id
        with pytest.raises(WorkerDied):
            jobs.run(*jobs.claim(scan_id), on_page=die_after_four_pages, sleep=no_sleep)
        db.session.rollback()
        stopped = db.session.get(RevenueScan, scan_id, populate_existing=True)
        assert (stopped.status, stopped.phase, stopped.requests) == ("running", 3, 4)
        assert stopped.cursor is not None  # half-way through the active subscriptions
        # Its lease still runs: no other worker takes it yet.
        assert jobs.claim() is None
        db.session.execute(
            sa.update(RevenueScan).values(claimed_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        resumed = jobs.work(seconds=60)
        assert resumed is not None
        assert resumed.status == "done"
        assert resumed.figures["months"] == scan_support.EXPECTED_MONTHS
        assert resumed.figures["now"] == scan_support.EXPECTED_NOW
        # Not one page read twice.
        assert resumed.requests == scan_support.EXPECTED_REQUESTS
        assert resumed.objects_read == scan_support.EXPECTED_OBJECTS
    assert len(emu.requests_to("GET")) == scan_support.EXPECTED_REQUESTS


def test_a_slice_hands_the_scan_back_for_the_next_pass(app: Flask, emu: StripeEmulator) -> None:
    with app.app_context():
        scan_id = start_scan().id
        passes = 0
        while (scan := jobs.work(seconds=0.0001)) is not None and scan.status == "running":
            passes += 1
            assert scan.claim_token is None  # released: the next pass may take it
        assert passes >= 2
        done = db.session.get(RevenueScan, scan_id, populate_existing=True)
        assert done.status == "done"
        assert done.figures["months"] == scan_support.EXPECTED_MONTHS


def test_one_scan_at_a_time_per_merchant(app: Flask, emu: StripeEmulator) -> None:
    with app.app_context():
        first = start_scan()
        with pytest.raises(jobs.ScanAlreadyRunning) as refused:
            start_scan()
        assert refused.value.scan.id == first.id
        # The database refuses a second one too (two dashboards at the same moment).
        db.session.add(
            RevenueScan(
                merchant_id=first.merchant_id,
                status="queued",
                window_start=first.window_start,
                window_end=first.window_end,
                figures={},
            )
        )
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()
        jobs.run(*jobs.claim(first.id), sleep=no_sleep)
        second = start_scan()  # the first has finished: kept, with its date
        assert second.id != first.id
        assert [s.status for s in jobs.history(by_slug("acme"))] == ["queued", "done"]
        assert db.session.get(RevenueScan, first.id).finished_at is not None


def test_a_key_that_is_refused_fails_the_scan_with_a_message(
    app: Flask, emu: StripeEmulator
) -> None:
    emu.denied["sk_test_scan17abcdef"] = {"invoices"}
    with app.app_context():
        scan = jobs.run(*jobs.claim(start_scan().id), sleep=no_sleep)
        assert scan.status == "failed"
        assert "Stripe key refused (HTTP 403)" in (scan.error or "")
        assert jobs.active_scan(by_slug("acme")) is None  # a new scan may start


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql")),
    reason="needs PostgreSQL (set DATABASE_URL): row locks",
)
def test_a_scan_locked_by_another_worker_is_skipped_not_waited_for(
    app: Flask, emu: StripeEmulator
) -> None:
    with app.app_context():
        scan_id = start_scan().id
        other = db.engine.connect()  # another worker, in the middle of claiming this row
        transaction = other.begin()
        other.execute(sa.select(RevenueScan.id).where(RevenueScan.id == scan_id).with_for_update())
        try:
            assert jobs.claim() is None  # at once: SKIP LOCKED
        finally:
            transaction.rollback()
            other.close()
        claimed = jobs.claim()
        assert claimed is not None
        assert claimed[0].id == scan_id
