"""Stripe's customer portal in the dashboard: the side-door warning, one click to cancelpage's own
configuration, drift noticed on a visit and by webhook, the default changed only after an
explicit confirmation, and every portal session cancelpage creates carrying the configuration."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support as ss
from support.admin_support import HX, add_user, post, sign_in, text
from support.recovery_support import FakeStripe, event, invoice
from support.recovery_support import post as post_event

from cancelpage import links
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import RecoveryCase

pytestmark = pytest.mark.usefixtures("hooked")

CONFIGS = "/v1/billing_portal/configurations"
FORM = {
    "cancel_timing": "at_period_end",
    "prices": "price_Pro\nprice_Basic",
    "headline": "Live Co billing",
    "privacy_url": "https://shop.example/privacy",
    "terms_url": "",
}


@pytest.fixture
def signed_in(app: Flask, client: FlaskClient, live_merchant: Any) -> str:
    add_user(app, "live", "owner@live.example")
    return sign_in(client, "owner@live.example")


def merchant_field(app: Flask, name: str) -> Any:
    with app.app_context():
        found = by_slug("live")
        assert found is not None
        return getattr(found, name)


def writes_to_configs(fake_stripe: FakeStripe, stripe_stub: Any) -> list[Any]:
    return [r for r in stripe_stub.requests if r.method == "post" and r.path.startswith(CONFIGS)]


def test_a_default_that_lets_customers_cancel_is_a_warned_side_door(
    client: FlaskClient, signed_in: str, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    page = text(client.get("/admin/stripe"))
    assert "Side door:" in page
    assert f"your default portal configuration ({ss.STRIPE_DEFAULT_CONFIG_ID})" in html.unescape(
        re.sub(r"</?code>", "", page)
    )
    assert "Customers can cancel in Stripe&#39;s portal (at the end of the paid period)" in page
    for allowed in ("Switch plans (to price_1Pga", "Change quantities.", "Update their payment"):
        assert allowed in page
    assert "cancelpage has no portal configuration of its own yet" in page
    assert [(r.method, r.path) for r in stripe_stub.requests] == [("get", CONFIGS)]


def test_a_default_without_cancel_is_said_to_be_closed(
    client: FlaskClient, signed_in: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.portal.edit(
        ss.STRIPE_DEFAULT_CONFIG_ID, {"features": {"subscription_cancel": {"enabled": False}}}
    )
    page = text(client.get("/admin/stripe"))
    assert "Side door" not in page
    assert "does not let customers cancel: they cancel on your cancel page" in page


def test_stripe_down_on_a_visit_is_said_and_the_page_still_works(
    client: FlaskClient, signed_in: str, fake_stripe: FakeStripe
) -> None:
    fake_stripe.down = True
    response = client.get("/admin/stripe")
    assert response.status_code == 200
    assert "Stripe's portal settings could not be read or changed: Stripe unavailable" in text(
        response
    )
    assert "Save and apply to Stripe" in text(response)


def test_one_click_configures_and_the_next_card_email_session_carries_it(
    app: Flask, client: FlaskClient, signed_in: str, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    response = post(client, "/admin/stripe/portal", signed_in, FORM)
    assert response.status_code == 303
    [create] = writes_to_configs(fake_stripe, stripe_stub)
    assert create.path == CONFIGS
    assert create.params["features[subscription_cancel][enabled]"] == "false"
    assert create.params["metadata[cancelpage_merchant]"] == "live"
    assert create.params["default_return_url"] == "http://cancel.test/card/done/live"
    assert create.idempotency_key
    assert create.idempotency_key.startswith("cancelpage-portal-")
    ours = merchant_field(app, "portal_configuration_id")
    assert ours in fake_stripe.portal.configurations
    assert "It says what you chose" in text(client.get("/admin/stripe"))

    # The next card-update email's portal session uses cancelpage's configuration.
    post_event(client, event("invoice.payment_failed", invoice()))
    with app.app_context():
        case_id = db.session.scalars(sa.select(RecoveryCase.id)).one()
        merchant = by_slug("live")
        assert merchant is not None
        payload = links.LinkPayload(merchant="live", customer=ss.CUSTOMER_ID, ref=str(case_id))
        token = links.sign(payload, merchant.link_secrets, "card_update")
    page = client.get(f"/card/{token}").get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert nonce
    assert client.post(f"/card/{token}", data={"nonce": nonce.group(1)}).status_code == 303
    [session] = [r for r in stripe_stub.requests if r.path == "/v1/billing_portal/sessions"]
    assert session.params["configuration"] == ours
    assert session.params["flow_data[type]"] == "payment_method_update"


def test_the_hand_off_turns_cancel_on_with_the_chosen_timing(
    app: Flask, client: FlaskClient, signed_in: str, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        merchant.cancel_mode = "portal"
        db.session.commit()
    post(client, "/admin/stripe/portal", signed_in, {**FORM, "cancel_timing": "immediately"})
    [create] = writes_to_configs(fake_stripe, stripe_stub)
    assert create.params["features[subscription_cancel][enabled]"] == "true"
    assert create.params["features[subscription_cancel][mode]"] == "immediately"
    assert create.params["features[subscription_cancel][cancellation_reason][enabled]"] == "true"


def test_applying_again_writes_nothing_and_a_dashboard_edit_is_reported_then_fixed(
    app: Flask, client: FlaskClient, signed_in: str, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    post(client, "/admin/stripe/portal", signed_in, FORM)
    post(client, "/admin/stripe/portal", signed_in, FORM)
    assert len(writes_to_configs(fake_stripe, stripe_stub)) == 1  # nothing drifted
    ours = merchant_field(app, "portal_configuration_id")
    fake_stripe.portal.edit(
        ours,
        {"features": {"subscription_cancel": {"enabled": True, "mode": "immediately"}}},
    )
    page = text(client.get("/admin/stripe"))
    assert "It no longer says what you chose" in page
    assert "Cancel subscription: on in Stripe, cancelpage wants off." in page
    assert merchant_field(app, "portal_check")["drift"] == [
        "Cancel subscription: on in Stripe, cancelpage wants off."
    ]
    post(client, "/admin/stripe/portal", signed_in, FORM)
    first, update = writes_to_configs(fake_stripe, stripe_stub)
    assert update.path == f"{CONFIGS}/{ours}"
    assert update.params["features[subscription_cancel][enabled]"] == "false"
    assert update.idempotency_key != first.idempotency_key
    assert (
        fake_stripe.portal.configurations[ours]["features"]["subscription_cancel"]["enabled"]
        is False
    )


def test_switching_to_the_portal_hand_off_turns_cancel_on_in_the_configuration(
    app: Flask, client: FlaskClient, signed_in: str, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    post(client, "/admin/stripe/portal", signed_in, FORM)
    settings = text(client.get("/admin/settings"))
    form = dict(
        re.findall(r'<input type="text" id="[^"]+" name="([^"]+)" value="([^"]*)"', settings)
    )
    form |= {"cancel_mode": "portal", "link_lifetime_hours": "168", "default_locale": "en"}
    form |= {"return_hosts": "shop.example"}
    assert post(client, "/admin/settings", signed_in, form).status_code == 303
    _, update = writes_to_configs(fake_stripe, stripe_stub)
    assert update.path == f"{CONFIGS}/{merchant_field(app, 'portal_configuration_id')}"
    assert update.params["features[subscription_cancel][enabled]"] == "true"
    assert update.params["features[subscription_cancel][mode]"] == "at_period_end"


def test_the_webhook_notices_what_drifted(
    app: Flask, client: FlaskClient, signed_in: str, fake_stripe: FakeStripe
) -> None:
    post(client, "/admin/stripe/portal", signed_in, FORM)
    ours = merchant_field(app, "portal_configuration_id")
    edited = fake_stripe.portal.edit(ours, {"features": {"subscription_pause": {"enabled": True}}})
    response = post_event(client, event("billing_portal.configuration.updated", edited))
    assert response.status_code == 200
    assert response.outcome == "portal configuration drifted: 1 change(s)"
    check = merchant_field(app, "portal_check")
    assert (check["source"], check["drift"]) == (
        "webhook",
        ["Pause: on in Stripe, cancelpage wants off."],
    )


def test_the_default_changes_only_after_an_explicit_confirmation(
    client: FlaskClient, signed_in: str, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    post(client, "/admin/stripe/portal", signed_in, FORM)
    asked = text(post(client, "/admin/stripe/portal/default", signed_in, headers=HX))
    assert "This changes every portal link you already use" in asked
    assert "Cancel subscription: on in Stripe, cancelpage wants off." in asked
    assert len(writes_to_configs(fake_stripe, stripe_stub)) == 1  # only our create so far
    post(client, "/admin/stripe/portal/default", signed_in, {"confirm": "yes"})
    _, default_update = writes_to_configs(fake_stripe, stripe_stub)
    assert default_update.path == f"{CONFIGS}/{ss.STRIPE_DEFAULT_CONFIG_ID}"
    assert default_update.params["features[subscription_cancel][enabled]"] == "false"
    assert "name" not in default_update.params
    assert "metadata[cancelpage_merchant]" not in default_update.params
    assert "Side door" not in text(client.get("/admin/stripe"))


def test_bad_settings_are_named_and_nothing_is_sent(
    client: FlaskClient, signed_in: str, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    bad = {
        **FORM,
        "prices": "prod_Oops",
        "privacy_url": "http://shop.example/p",
        "headline": "x" * 61,
    }
    page = text(post(client, "/admin/stripe/portal", signed_in, bad, headers=HX))
    assert "“prod_Oops” is not a Stripe price id (price_…)." in page
    assert "Use https://" in page
    assert "Use at most 60 characters" in page
    assert writes_to_configs(fake_stripe, stripe_stub) == []


def test_preview_shows_the_requests_and_keeps_nothing(
    app: Flask, client: FlaskClient, merchant: Any
) -> None:
    add_user(app, "acme", "owner@acme.example")
    token = sign_in(client, "owner@acme.example")
    assert "Preview mode: nothing is read from Stripe." in text(client.get("/admin/stripe"))
    page = text(post(client, "/admin/stripe/portal", token, FORM))
    assert "Preview: nothing was sent." in page
    assert f"GET {CONFIGS}" in page
    assert f"POST {CONFIGS}</code> with key <code>cancelpage-portal-" in page
    assert "features[subscription_cancel][enabled]=false" in page
    with app.app_context():
        acme = by_slug("acme")
        assert acme is not None
        assert acme.portal_configuration_id is None
        assert acme.portal_settings["prices"] == ["price_Pro", "price_Basic"]
