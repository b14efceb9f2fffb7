"""The Revenue Scan page end to end: a new merchant pastes a key (the emulator stands in for
Stripe), clicks "Run scan", watches the progress (htmx polling, or a refresh without JavaScript)
and gets the hand-computed monthly figures, charts, projections and CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from support import scan_support
from support.admin_support import HX, dashboard_client, text
from support.stripe_emulator import StripeEmulator

from cancelpage import billing
from cancelpage.admin import revenue_scan
from cancelpage.billing import Gateway

KEY = "rk_test_scan17pageKEY"


@pytest.fixture
def emu(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeEmulator]:
    with StripeEmulator(now=int(scan_support.NOW.timestamp())) as emulator:
        scan_support.seed_small_account(emulator)
        app.extensions["cancelpage.key_checker"] = lambda key: billing.check_key(
            key, api_base=emulator.url, http_client=emulator.http_client()
        )
        app.extensions["cancelpage.gateway"] = lambda m: Gateway.for_key(
            m.stripe_key() or "",
            api_base=emulator.url,
            http_client=emulator.http_client(),
            max_network_retries=0,
        )
        monkeypatch.setattr(revenue_scan, "clock", lambda: scan_support.NOW)
        yield emulator


def run_worker(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def test_paste_a_key_run_a_scan_watch_it_and_read_the_figures(
    app: Flask, emu: StripeEmulator
) -> None:
    client = dashboard_client(app)
    saved = client.post("/admin/stripe/key", data={"api_key": KEY})
    assert saved.status_code == 303
    started = client.post("/admin/scan", data={"months": "3"})
    assert started.status_code == 303
    scan_path = started.headers["Location"]
    scan_id = int(scan_path.rsplit("/", 1)[1])

    waiting = client.get(scan_path)
    page = text(waiting)
    assert "Waiting for the worker." in page
    # With JavaScript htmx polls the block; without, the page refreshes itself.
    assert f'hx-get="/admin/scan/{scan_id}/progress" hx-trigger="every 2s"' in page
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
    polled = client.get(f"/admin/scan/{scan_id}/progress", headers=HX)
    assert "<html" not in polled.get_data(as_text=True)
    assert "Vary" in polled.headers
    assert "hx-trigger" in text(polled)

    output = run_worker(app)
    assert f"revenue scan {scan_id}: done" in output
    assert f"{scan_support.EXPECTED_REQUESTS} requests" in output

    finished = text(client.get(f"/admin/scan/{scan_id}/progress", headers=HX))
    assert "hx-trigger" not in finished  # polling stops
    assert "Scan of May 2026 to 15 July 2026" in finished
    assert f"{scan_support.EXPECTED_REQUESTS} Stripe requests" in finished
    # Hand-computed (support/scan_support.py): USD is the main currency.
    assert (
        "<strong>$214.00</strong> MRR lost to 4 cancels; "
        "<strong>$169.20</strong> to 2 failed payments." in finished
    )
    assert "<strong>$49.00</strong> MRR in 1 past-due or unpaid subscriptions" in finished
    assert "<strong>$69.00</strong> in 2 set to cancel." in finished
    assert "<td>Cancel flow</td><td>$85.60 – $128.40</td>" in finished
    assert "<td>Dunning</td><td>$25.38 – $42.30</td>" in finished
    assert (
        '<th scope="row">2026-06</th><td>0 · $0.00</td><td>2 · $169.20</td><td>1 · $49.00</td>'
        in finished
    )
    assert finished.count('<svg class="chart"') == 2
    assert "style=" not in finished
    assert "<script" not in finished

    jpy = text(client.get(f"/admin/scan/{scan_id}?currency=jpy"))
    assert "<strong>¥3,000</strong> MRR lost to 1 cancels" in jpy
    edited = text(client.get(f"/admin/scan/{scan_id}?cancel_low=10&cancel_high=20"))
    assert "<td>Cancel flow</td><td>$21.40 – $42.80</td>" in edited
    assert 'value="10"' in edited


def test_the_csv_has_every_month_of_every_currency(app: Flask, emu: StripeEmulator) -> None:
    client = dashboard_client(app)
    client.post("/admin/stripe/key", data={"api_key": KEY})
    scan_id = int(
        client.post("/admin/scan", data={"months": "3"}).headers["Location"].rsplit("/", 1)[1]
    )
    assert client.get(f"/admin/scan/{scan_id}.csv").status_code == 404  # not finished yet
    run_worker(app)
    response = client.get(f"/admin/scan/{scan_id}.csv")
    assert response.mimetype == "text/csv"
    assert re.search(
        r'filename="cancelpage-revenue-scan-acme-\d{4}-\d\d-\d\d.csv"',
        response.headers["Content-Disposition"],
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:6] == [
        "month",
        "currency",
        "voluntary_subscriptions",
        "voluntary_mrr",
        "involuntary_subscriptions",
        "involuntary_mrr",
    ]
    by_key = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert len(by_key) == 9  # 3 months x USD, EUR, JPY
    assert by_key[("2026-05", "USD")] == [
        "2",
        "149.00",
        "0",
        "0.00",
        "0",
        "0.00",
        "1",
        "49.00",
        "0",
        "0.00",
        "0",
        "0.00",
    ]
    assert by_key[("2026-07", "JPY")][:4] == ["0", "0", "1", "3000"]
    assert by_key[("2026-06", "EUR")][:2] == ["1", "29.00"]


def test_a_second_scan_waits_for_the_first(app: Flask, emu: StripeEmulator) -> None:
    client = dashboard_client(app)
    client.post("/admin/stripe/key", data={"api_key": KEY})
    client.post("/admin/scan", data={"months": "3"})
    again = client.post("/admin/scan", data={"months": "3"})
    assert again.status_code == 200
    assert "A scan is already running" in text(again)


def test_a_merchant_never_sees_another_merchants_scan(app: Flask, emu: StripeEmulator) -> None:
    owner = dashboard_client(app)
    owner.post("/admin/stripe/key", data={"api_key": KEY})
    scan_path = owner.post("/admin/scan", data={"months": "3"}).headers["Location"]
    other = dashboard_client(app, "globex", "owner@globex.example")
    assert other.get(scan_path).status_code == 404
    assert other.get(scan_path + "/progress").status_code == 404


def test_without_a_key_the_scan_reads_the_simulated_account(app: Flask) -> None:
    client = dashboard_client(app)
    page = text(client.get("/admin/scan"))
    assert "the scan reads a simulated account (preview)" in page
    scan_path = client.post("/admin/scan", data={"months": "12"}).headers["Location"]
    run_worker(app)
    done = text(client.get(scan_path))
    assert "Simulated account" in done
    assert "MRR lost per month" in done
