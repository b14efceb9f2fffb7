"""Portal configurations at the Stripe edge: the exact wire format of list, create and update
(nested features[...] parameters), keys derived from the contents, preview recording, and the
side-door detection on a default configuration with cancelling on and off."""

from __future__ import annotations

from typing import Any

from support.stripe_support import (
    PRICE_ID,
    STRIPE_DEFAULT_CONFIG_ID,
    configuration_list,
    fixture_responder,
    portal_configuration,
    recording_gateway,
)

from cancelpage.billing import Gateway, RecordedRequest
from cancelpage.billing.portal import (
    WantedPortal,
    allowances,
    configuration_params,
    configuration_view,
    contents_key,
    default_of,
    drift,
    side_door,
)
from cancelpage.vocabulary import FEEDBACK_CODES

WANTED = WantedPortal(
    owner="acme",
    cancel_mode=None,
    prices=("price_Pro", "price_Basic"),
    headline="Acme billing",
    privacy_policy_url="https://acme.example/privacy",
    terms_of_service_url=None,
    default_return_url="https://app.acme.example/account",
)
PRODUCTS = {"price_Pro": "prod_Acme", "price_Basic": "prod_Acme"}

# Every parameter cancelpage's configuration sends when cancelling stays with cancelpage.
CREATE_WIRE = {
    "name": "cancelpage (acme)",
    "features[payment_method_update][enabled]": "true",
    "features[invoice_history][enabled]": "true",
    "features[customer_update][enabled]": "true",
    "features[customer_update][allowed_updates][0]": "email",
    "features[customer_update][allowed_updates][1]": "address",
    "features[subscription_pause][enabled]": "false",
    "features[subscription_cancel][enabled]": "false",
    "features[subscription_update][enabled]": "true",
    "features[subscription_update][default_allowed_updates][0]": "price",
    "features[subscription_update][products][0][product]": "prod_Acme",
    "features[subscription_update][products][0][prices][0]": "price_Basic",
    "features[subscription_update][products][0][prices][1]": "price_Pro",
    "features[subscription_update][proration_behavior]": "create_prorations",
    "business_profile[headline]": "Acme billing",
    "business_profile[privacy_policy_url]": "https://acme.example/privacy",
    "default_return_url": "https://app.acme.example/account",
    "metadata[cancelpage_merchant]": "acme",
}


def only(requests: list[RecordedRequest]) -> RecordedRequest:
    assert len(requests) == 1
    return requests[0]


def test_list_is_one_get_of_up_to_100_without_idempotency_key() -> None:
    def respond(req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        return 200, configuration_list(portal_configuration())

    gateway, rec = recording_gateway(respond)
    views = gateway.portal_configurations()
    req = only(rec.requests)
    assert (req.method, req.path, req.params) == (
        "get",
        "/v1/billing_portal/configurations",
        {"limit": "100"},
    )
    assert req.idempotency_key is None
    assert [v.id for v in views] == [STRIPE_DEFAULT_CONFIG_ID]


def test_create_sends_every_feature_as_nested_parameters() -> None:
    gateway, rec = recording_gateway()
    params = configuration_params(WANTED, PRODUCTS)
    view = gateway.create_portal_configuration(params, idempotency_key="ik-create")
    req = only(rec.requests)
    assert (req.method, req.path) == ("post", "/v1/billing_portal/configurations")
    assert req.params == CREATE_WIRE
    assert req.idempotency_key == "ik-create"
    assert (view.owner, view.cancel, view.plan_prices) == (
        "acme",
        False,
        ("price_Basic", "price_Pro"),
    )


def test_portal_hand_off_turns_cancel_on_with_the_merchants_timing_and_reasons() -> None:
    gateway, rec = recording_gateway()
    wanted = WantedPortal(**{**WANTED.__dict__, "cancel_mode": "immediately", "prices": ()})
    gateway.create_portal_configuration(configuration_params(wanted, {}), idempotency_key="ik")
    params = only(rec.requests).params
    assert params["features[subscription_cancel][enabled]"] == "true"
    assert params["features[subscription_cancel][mode]"] == "immediately"
    assert params["features[subscription_cancel][cancellation_reason][enabled]"] == "true"
    assert [
        params[f"features[subscription_cancel][cancellation_reason][options][{i}]"]
        for i in range(8)
    ] == list(FEEDBACK_CODES)
    # No prices picked: no plan switching at all.
    assert params["features[subscription_update][enabled]"] == "false"
    assert not any(k.startswith("features[subscription_update][products]") for k in params)


def test_update_posts_to_the_configuration_and_clears_removed_urls() -> None:
    gateway, rec = recording_gateway()
    params = configuration_params(WANTED, PRODUCTS)
    gateway.update_portal_configuration("bpc_Ours", params, idempotency_key="ik-update")
    req = only(rec.requests)
    assert (req.method, req.path) == ("post", "/v1/billing_portal/configurations/bpc_Ours")
    assert req.params == {**CREATE_WIRE, "business_profile[terms_of_service_url]": ""}
    assert req.idempotency_key == "ik-update"


def test_keys_derive_from_the_contents() -> None:
    params = configuration_params(WANTED, PRODUCTS)
    again = configuration_params(WantedPortal(**WANTED.__dict__), dict(PRODUCTS))
    assert contents_key("create", "acme", params) == contents_key("create", "acme", again)
    other = configuration_params(WantedPortal(**{**WANTED.__dict__, "headline": "New"}), PRODUCTS)
    assert contents_key("create", "acme", params) != contents_key("create", "acme", other)
    assert contents_key("update", "bpc_1@1", params) != contents_key("update", "bpc_1@2", params)


def test_preview_records_the_configuration_requests_and_sends_nothing() -> None:
    gateway = Gateway.preview()
    assert gateway.portal_configurations() == []
    assert gateway.products_of(["price_Pro"]) == {"price_Pro": "prod_preview"}
    params = configuration_params(WANTED, PRODUCTS)
    view = gateway.create_portal_configuration(params, idempotency_key="ik-preview")
    assert [(r.method, r.path) for r in gateway.recorded] == [
        ("get", "/v1/billing_portal/configurations"),
        ("get", "/v1/prices/price_Pro"),
        ("post", "/v1/billing_portal/configurations"),
    ]
    assert gateway.recorded[-1].params == CREATE_WIRE
    assert gateway.recorded[-1].idempotency_key == "ik-preview"
    # The answer reads back as what was sent: nothing drifted.
    assert drift(view, WANTED) == []


def test_a_default_with_cancel_on_is_a_side_door_in_plain_words() -> None:
    view = configuration_view(portal_configuration(cancel=True))
    assert default_of([view]) == view
    assert side_door(view) == (
        "Customers can cancel in Stripe's portal (at the end of the paid period) without seeing "
        "your cancel page, its survey or an offer."
    )
    assert allowances(view) == [
        f"Switch plans (to {PRICE_ID}).",
        "Change quantities.",
        "Update their payment method.",
        "See their invoice history.",
        "Edit their email, tax_id.",
    ]


def test_a_default_with_cancel_off_has_no_side_door() -> None:
    config = portal_configuration(cancel=False)
    config["features"]["subscription_pause"] = {"enabled": True}
    view = configuration_view(config)
    assert not view.cancel
    assert side_door(view) is None
    assert "Pause their subscription." in allowances(view)


def test_drift_says_what_someone_changed_in_stripe() -> None:
    gateway, _ = recording_gateway(fixture_responder())
    ours = gateway.create_portal_configuration(
        configuration_params(WANTED, PRODUCTS), idempotency_key="ik"
    )
    assert drift(ours, WANTED) == []
    edited = portal_configuration(config_id=ours.id, is_default=False)
    assert drift(configuration_view(edited), WANTED) == [
        "Cancel subscription: on in Stripe, cancelpage wants off.",
        f"Plan switching prices: {PRICE_ID} in Stripe, cancelpage wants price_Basic, price_Pro.",
        "Quantity changes: on in Stripe, cancelpage wants off.",
        "Customer details: email, tax_id in Stripe, cancelpage wants address, email.",
        "Headline: none in Stripe, cancelpage wants Acme billing.",
        "Privacy policy URL: none in Stripe, cancelpage wants https://acme.example/privacy.",
        "Default return URL: none in Stripe, cancelpage wants https://app.acme.example/account.",
    ]


def test_portal_sessions_carry_the_configuration() -> None:
    gateway, rec = recording_gateway()
    gateway.with_portal_configuration("bpc_Ours").portal_url(
        "cus_1", return_url="https://app.acme.example/", idempotency_key="ik-1"
    )
    gateway.portal_url(
        "cus_1",
        return_url="https://app.acme.example/",
        idempotency_key="ik-2",
        configuration="bpc_X",
    )
    gateway.portal_url("cus_1", return_url="https://app.acme.example/", idempotency_key="ik-3")
    assert [r.params.get("configuration") for r in rec.requests] == ["bpc_Ours", "bpc_X", None]
