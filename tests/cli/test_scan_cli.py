"""`flask --app cancelpage scan MERCHANT`: the scan in the foreground, its figures and the
number of requests it made."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant
from cancelpage.models import RevenueScan
from cancelpage.scan.service import PHASES


def test_the_scan_command_prints_monthly_figures_and_the_request_count(app: Flask) -> None:
    with app.app_context():
        create_merchant("acme", "Acme")
        db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["scan", "acme", "--months", "6"])
    assert result.exit_code == 0, result.output
    assert (
        "Scanning 6 months of acme from a simulated account (preview: no Stripe key)."
        in result.output
    )
    assert "USD  month    voluntary" in result.output
    assert "projection, Cancel flow:" in result.output
    assert "(40%–60% of the MRR lost to customers who cancelled)" in result.output
    with app.app_context():
        scan = db.session.scalars(sa.select(RevenueScan)).one()
        assert scan.status == "done"
        assert result.output.strip().splitlines()[-1] == (
            f"{scan.objects_read:,} objects read with {scan.requests} Stripe requests "
            "(0 after a 429; limit 20,000)."
        )
        # One page per list, and no more pages than the objects need.
        assert len(PHASES) <= scan.requests <= len(PHASES) + scan.objects_read // 100
    # Another scan may start once this one is done; a queued one blocks the next.
    queued = runner.invoke(args=["scan", "acme", "--background"])
    assert "queued" in queued.output
    refused = runner.invoke(args=["scan", "acme"])
    assert refused.exit_code != 0
    assert "one at a time" in refused.output


def test_an_unknown_merchant_is_an_error(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["scan", "nobody"])
    assert result.exit_code != 0
    assert "no merchant 'nobody'" in result.output
