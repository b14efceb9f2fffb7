"""`flask --app cancelpage portal status|configure`."""

from __future__ import annotations

from typing import Any

from flask import Flask
from support import stripe_support as ss
from support.recovery_support import FakeStripe

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug

CONFIGS = "/v1/billing_portal/configurations"


def test_status_names_the_side_door_and_what_else_the_default_allows(
    app: Flask, live_merchant: Any, fake_stripe: FakeStripe
) -> None:
    result = app.test_cli_runner().invoke(args=["portal", "status", "live"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:3] == [
        f"Default configuration {ss.STRIPE_DEFAULT_CONFIG_ID}:",
        "  Customers can cancel in Stripe's portal (at the end of the paid period) without "
        "seeing your cancel page, its survey or an offer.",
        f"  It lets customers: Switch plans (to {ss.PRICE_ID}).",
    ]
    assert "cancelpage has no portal configuration yet" in result.output


def test_configure_creates_then_reports_nothing_drifted(
    app: Flask, live_merchant: Any, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    runner = app.test_cli_runner()
    args = ["portal", "configure", "live", "--price", "price_Pro", "--headline", "Live Co"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    [create] = [r for r in stripe_stub.requests if r.method == "post"]
    assert create.path == CONFIGS
    assert create.params["features[subscription_update][products][0][prices][0]"] == "price_Pro"
    assert create.params["business_profile[headline]"] == "Live Co"
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        ours = merchant.portal_configuration_id
    assert f"cancelpage's configuration {ours}:\n  It says what you chose." in result.output
    status = runner.invoke(args=["portal", "status", "live"])
    assert "It says what you chose." in status.output


def test_applying_to_the_default_asks_first(
    app: Flask, live_merchant: Any, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["portal", "configure", "live", "--apply-to-default"], input="n\n")
    assert refused.exit_code == 1
    assert "Cancel subscription: on in Stripe, cancelpage wants off." in refused.output
    assert [r for r in stripe_stub.requests if r.method == "post"] == []
    done = runner.invoke(args=["portal", "configure", "live", "--apply-to-default", "--yes"])
    assert done.exit_code == 0, done.output
    paths = [r.path for r in stripe_stub.requests if r.method == "post"]
    assert paths[-1] == f"{CONFIGS}/{ss.STRIPE_DEFAULT_CONFIG_ID}"
    assert "Customers cannot cancel in the portal." in done.output


def test_preview_prints_the_requests_it_would_send(app: Flask, merchant: Any) -> None:
    result = app.test_cli_runner().invoke(args=["portal", "configure", "acme"])
    assert result.exit_code == 0, result.output
    assert "Preview mode: nothing is read from Stripe." in result.output
    assert f"POST {CONFIGS} (key cancelpage-portal-" in result.output
    assert "  features[subscription_cancel][enabled]=false" in result.output
    assert "  default_return_url=https://shop.example/account" in result.output
    with app.app_context():
        acme = by_slug("acme")
        assert acme is not None
        assert acme.portal_configuration_id is None
        db.session.rollback()
