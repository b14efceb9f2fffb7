"""The Stripe gateway: exact wire format, parsing, error mapping, retries, preview mode."""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import requests
import stripe
from stripe_support import (
    CREATED,
    CUSTOMER_ID,
    ITEM_ID,
    PERIOD_END,
    PRICE_ID,
    SUB_ID,
    WEBHOOK_SECRET,
    connection_error,
    coupon,
    discount,
    error_body,
    event,
    fault_responder,
    fixture_responder,
    price,
    recording_gateway,
    signed_webhook,
    subscription,
    subscription_item,
)

from cancelpage.billing import (
    API_VERSION,
    BillingError,
    Gateway,
    InvalidWebhook,
    RecordedRequest,
    RecordingHTTPClient,
    StripeAuthError,
    StripeRejected,
    StripeUnavailable,
    SubscriptionView,
    verify_webhook,
)
from cancelpage.billing.preview import preview_answer

EXPAND = {
    "expand[0]": "customer",
    "expand[1]": "items.data.price.product",
    "expand[2]": "discounts",
}
SUB_PATH = f"/v1/subscriptions/{SUB_ID}"


def only_request(rec: RecordingHTTPClient) -> RecordedRequest:
    assert len(rec.requests) == 1, rec.requests
    return rec.requests[0]


# --- wire format, one test per operation ------------------------------------------------------


def test_read_subscription_is_one_expanded_get_without_idempotency_key() -> None:
    gateway, rec = recording_gateway()
    view = gateway.read_subscription(SUB_ID)
    req = only_request(rec)
    assert (req.method, req.path) == ("get", SUB_PATH)
    assert req.params == EXPAND
    assert req.idempotency_key is None
    assert view.id == SUB_ID


def test_create_coupon_wire_format() -> None:
    gateway, rec = recording_gateway()
    coupon_id = gateway.create_coupon(
        coupon_id="cp_offer_20",
        name="20% off for 3 months",
        percent_off=20,
        amount_off=None,
        currency=None,
        duration="repeating",
        duration_in_months=3,
        idempotency_key="ik-coupon",
    )
    req = only_request(rec)
    assert (req.method, req.path) == ("post", "/v1/coupons")
    assert req.params == {
        "id": "cp_offer_20",
        "name": "20% off for 3 months",
        "duration": "repeating",
        "percent_off": "20",
        "duration_in_months": "3",
    }
    assert req.idempotency_key == "ik-coupon"
    assert coupon_id == "cp_offer_20"


def test_create_amount_off_coupon_sends_currency() -> None:
    gateway, rec = recording_gateway()
    gateway.create_coupon(
        coupon_id="cp_5_eur",
        name="5 EUR off",
        percent_off=None,
        amount_off=500,
        currency="eur",
        duration="once",
        duration_in_months=None,
        idempotency_key="ik-c2",
    )
    assert only_request(rec).params == {
        "id": "cp_5_eur",
        "name": "5 EUR off",
        "duration": "once",
        "amount_off": "500",
        "currency": "eur",
    }


def test_apply_discount_replaces_discounts() -> None:
    gateway, rec = recording_gateway()
    gateway.apply_discount(SUB_ID, "cp_offer_20", idempotency_key="ik-discount")
    req = only_request(rec)
    assert (req.method, req.path) == ("post", SUB_PATH)
    assert req.params == {"discounts[0][coupon]": "cp_offer_20", **EXPAND}
    assert "coupon" not in req.params
    assert req.idempotency_key == "ik-discount"


def test_pause_wire_format() -> None:
    gateway, rec = recording_gateway()
    gateway.pause(SUB_ID, resumes_at=1_770_000_000, behavior="void", idempotency_key="ik-pause")
    req = only_request(rec)
    assert (req.method, req.path) == ("post", SUB_PATH)
    assert req.params == {
        "pause_collection[behavior]": "void",
        "pause_collection[resumes_at]": "1770000000",
        **EXPAND,
    }
    assert req.idempotency_key == "ik-pause"


def test_resume_clears_pause_collection_with_empty_string() -> None:
    gateway, rec = recording_gateway()
    gateway.resume(SUB_ID, idempotency_key="ik-resume")
    req = only_request(rec)
    assert (req.method, req.path) == ("post", SUB_PATH)
    assert req.params == {"pause_collection": "", **EXPAND}
    assert req.idempotency_key == "ik-resume"


def test_switch_price_wire_format() -> None:
    gateway, rec = recording_gateway()
    gateway.switch_price(
        SUB_ID,
        item_id=ITEM_ID,
        price_id="price_cheaper",
        proration_behavior="create_prorations",
        idempotency_key="ik-switch",
    )
    req = only_request(rec)
    assert (req.method, req.path) == ("post", SUB_PATH)
    assert req.params == {
        "items[0][id]": ITEM_ID,
        "items[0][price]": "price_cheaper",
        "proration_behavior": "create_prorations",
        **EXPAND,
    }
    assert req.idempotency_key == "ik-switch"


def test_extend_trial_wire_format() -> None:
    gateway, rec = recording_gateway()
    gateway.extend_trial(SUB_ID, trial_end=1_770_000_000, idempotency_key="ik-trial")
    req = only_request(rec)
    assert (req.method, req.path) == ("post", SUB_PATH)
    assert req.params == {"trial_end": "1770000000", "proration_behavior": "none", **EXPAND}
    assert req.idempotency_key == "ik-trial"


def test_cancel_at_period_end_wire_format() -> None:
    gateway, rec = recording_gateway()
    gateway.cancel_at_period_end(
        SUB_ID, feedback="too_expensive", comment="Too pricey", idempotency_key="ik-cancel"
    )
    req = only_request(rec)
    assert (req.method, req.path) == ("post", SUB_PATH)
    assert req.params == {
        "cancel_at_period_end": "true",
        "cancellation_details[feedback]": "too_expensive",
        "cancellation_details[comment]": "Too pricey",
        **EXPAND,
    }
    assert req.idempotency_key == "ik-cancel"


@pytest.mark.parametrize(
    ("feedback", "comment", "expected"),
    [
        (None, None, {}),
        ("unused", None, {"cancellation_details[feedback]": "unused"}),
        (None, "bye", {"cancellation_details[comment]": "bye"}),
        (None, "", {}),
    ],
)
def test_cancel_at_period_end_omits_empty_details(
    feedback: Any, comment: str | None, expected: dict[str, str]
) -> None:
    gateway, rec = recording_gateway()
    gateway.cancel_at_period_end(SUB_ID, feedback=feedback, comment=comment, idempotency_key="k")
    assert only_request(rec).params == {"cancel_at_period_end": "true", **expected, **EXPAND}


def test_cancel_now_is_delete_with_details_and_our_idempotency_key() -> None:
    gateway, rec = recording_gateway()
    view = gateway.cancel_now(
        SUB_ID, feedback="switched_service", comment="Moved", idempotency_key="ik-now"
    )
    req = only_request(rec)
    assert (req.method, req.path) == ("delete", SUB_PATH)
    assert req.params == {
        "cancellation_details[feedback]": "switched_service",
        "cancellation_details[comment]": "Moved",
        **EXPAND,
    }
    # stripe-python sets no key on DELETE by itself: this one must be ours.
    assert req.idempotency_key == "ik-now"
    assert view.status == "canceled"


def test_undo_cancel_wire_format() -> None:
    gateway, rec = recording_gateway()
    gateway.undo_cancel(SUB_ID, idempotency_key="ik-undo")
    req = only_request(rec)
    assert (req.method, req.path) == ("post", SUB_PATH)
    assert req.params == {"cancel_at_period_end": "false", **EXPAND}
    assert req.idempotency_key == "ik-undo"


def test_portal_url_plain() -> None:
    gateway, rec = recording_gateway()
    url = gateway.portal_url(
        CUSTOMER_ID, return_url="https://merchant.example/account", idempotency_key="ik-portal"
    )
    req = only_request(rec)
    assert (req.method, req.path) == ("post", "/v1/billing_portal/sessions")
    assert req.params == {"customer": CUSTOMER_ID, "return_url": "https://merchant.example/account"}
    assert req.idempotency_key == "ik-portal"
    assert url == "https://billing.stripe.com/p/session/test_abc"


def test_portal_url_payment_method_update_flow() -> None:
    gateway, rec = recording_gateway()
    gateway.portal_url(
        CUSTOMER_ID,
        return_url="https://m.example/r",
        flow="payment_method_update",
        idempotency_key="ik-pm",
    )
    assert only_request(rec).params == {
        "customer": CUSTOMER_ID,
        "return_url": "https://m.example/r",
        "flow_data[type]": "payment_method_update",
    }


def test_portal_url_subscription_cancel_flow() -> None:
    gateway, rec = recording_gateway()
    gateway.portal_url(
        CUSTOMER_ID,
        return_url="https://m.example/r",
        flow="subscription_cancel",
        subscription_id=SUB_ID,
        idempotency_key="ik-sc",
    )
    req = only_request(rec)
    assert req.params == {
        "customer": CUSTOMER_ID,
        "return_url": "https://m.example/r",
        "flow_data[type]": "subscription_cancel",
        "flow_data[subscription_cancel][subscription]": SUB_ID,
    }
    assert req.idempotency_key == "ik-sc"


def test_portal_subscription_cancel_flow_needs_subscription() -> None:
    gateway, rec = recording_gateway()
    with pytest.raises(ValueError, match="needs a subscription_id"):
        gateway.portal_url(
            CUSTOMER_ID, return_url="https://m/r", flow="subscription_cancel", idempotency_key="k"
        )
    assert rec.requests == []


def test_writes_refuse_a_missing_idempotency_key() -> None:
    gateway, rec = recording_gateway()
    with pytest.raises(ValueError, match="idempotency_key is required"):
        gateway.undo_cancel(SUB_ID, idempotency_key="")
    assert rec.requests == []


def test_api_version_and_no_key_in_recorded_headers() -> None:
    gateway = Gateway.for_key("sk_test_secret123", http_client=RecordingHTTPClient(), timeout=5)
    gateway.read_subscription(SUB_ID)
    gateway.undo_cancel(SUB_ID, idempotency_key="k")
    assert len(gateway.recorded) == 2
    for req in gateway.recorded:
        assert req.headers["Stripe-Version"] == API_VERSION == "2026-10-28.endive"
        assert req.stripe_version == API_VERSION
        assert "sk_test_secret123" not in repr(req)


def test_for_key_sends_requests_to_api_base() -> None:
    rec = RecordingHTTPClient(fixture_responder())
    gateway = Gateway.for_key("sk_test_x", api_base="http://127.0.0.1:12111", http_client=rec)
    gateway.read_subscription(SUB_ID)
    url = urlsplit(rec.requests[0].url)
    assert (url.scheme, url.hostname, url.port) == ("http", "127.0.0.1", 12111)
    assert url.path == SUB_PATH
    assert gateway.recorded == rec.requests


def test_for_key_default_http_client_is_requests_with_10s_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []

    class FakeResponse:
        status_code = 200
        headers: ClassVar[dict[str, str]] = {}
        content = stripe_json(subscription())

    def fake_request(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        seen.append({"method": method, "url": url, **kwargs})
        return FakeResponse()

    monkeypatch.setattr(requests.Session, "request", fake_request)
    gateway = Gateway.for_key("sk_test_x")
    assert gateway.read_subscription(SUB_ID).id == SUB_ID
    assert len(seen) == 1
    assert seen[0]["timeout"] == 10
    assert urlsplit(seen[0]["url"]).hostname == "api.stripe.com"
    assert seen[0]["headers"]["Stripe-Version"] == API_VERSION
    assert gateway.recorded == []


def test_for_key_timeout_becomes_retryable_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def timing_out(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        raise requests.exceptions.ReadTimeout("read timed out")

    monkeypatch.setattr(requests.Session, "request", timing_out)
    gateway = Gateway.for_key("sk_test_x", timeout=0.5, max_network_retries=0)
    with pytest.raises(StripeUnavailable) as info:
        gateway.undo_cancel(SUB_ID, idempotency_key="k")
    assert info.value.retryable is True


def test_for_key_refuses_an_empty_key() -> None:
    with pytest.raises(StripeAuthError):
        Gateway.for_key("")


def stripe_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


# --- parsing ----------------------------------------------------------------------------------


def read(sub: dict[str, Any]) -> SubscriptionView:
    gateway, _ = recording_gateway(fixture_responder(sub))
    return gateway.read_subscription(SUB_ID)


def test_parses_a_full_subscription() -> None:
    view = read(subscription())
    assert view == SubscriptionView(
        id=SUB_ID,
        customer=CUSTOMER_ID,
        status="active",
        item_id=ITEM_ID,
        price_id=PRICE_ID,
        plan_name="Pro plan",
        unit_amount=2900,
        currency="eur",
        interval="month",
        interval_count=1,
        quantity=1,
        current_period_end=PERIOD_END,
        created=CREATED,
        cancel_at_period_end=False,
        cancel_at=None,
        canceled_at=None,
        trial_end=None,
        paused=False,
        discount_coupons=(),
        preferred_locales=("fr-FR", "en"),
        customer_email="jenny@example.com",
    )


def test_current_period_end_comes_from_the_first_item() -> None:
    items = {
        "object": "list",
        "data": [
            subscription_item(current_period_end=1_800_000_000),
            subscription_item(id="si_second", current_period_end=1_900_000_000),
        ],
    }
    view = read(subscription(items=items))
    assert view.current_period_end == 1_800_000_000
    assert view.item_id == ITEM_ID


def test_plan_name_prefers_price_nickname() -> None:
    item = subscription_item(price=price(nickname="Pro monthly"))
    view = read(subscription(items={"object": "list", "data": [item]}))
    assert view.plan_name == "Pro monthly"


def test_plan_name_is_none_when_product_not_expanded() -> None:
    item = subscription_item(price=price(expand_product=False))
    view = read(subscription(items={"object": "list", "data": [item]}))
    assert view.plan_name is None


def test_discount_coupons_from_expanded_objects_and_ids() -> None:
    legacy = {"id": "di_old", "object": "discount", "coupon": coupon("cp_legacy")}
    discounts = [
        discount("cp_a"),
        discount("cp_b", expand_coupon=False),
        legacy,
        "di_unexpanded",
    ]
    view = read(subscription(discounts=discounts))
    assert view.discount_coupons == ("cp_a", "cp_b", "cp_legacy")


def test_paused_and_cancellation_fields() -> None:
    view = read(
        subscription(
            pause_collection={"behavior": "void", "resumes_at": 1_770_000_000},
            cancel_at_period_end=True,
            cancel_at=PERIOD_END,
            canceled_at=CREATED + 10,
            trial_end=CREATED + 20,
            status="trialing",
        )
    )
    assert view.paused is True
    assert view.cancel_at_period_end is True
    assert (view.cancel_at, view.canceled_at, view.trial_end) == (
        PERIOD_END,
        CREATED + 10,
        CREATED + 20,
    )
    assert view.status == "trialing"


@pytest.mark.parametrize(
    "cust", [CUSTOMER_ID, {"id": CUSTOMER_ID, "object": "customer", "deleted": True}]
)
def test_preferred_locales_empty_when_customer_not_expanded_or_deleted(cust: Any) -> None:
    view = read(subscription(customer=cust))
    assert view.customer == CUSTOMER_ID
    assert view.preferred_locales == ()


def test_write_returns_the_parsed_subscription() -> None:
    paused = subscription(pause_collection={"behavior": "void", "resumes_at": 1_770_000_000})
    gateway, _ = recording_gateway(fixture_responder(paused))
    view = gateway.pause(SUB_ID, resumes_at=1_770_000_000, behavior="void", idempotency_key="k")
    assert view.paused is True
    assert view.preferred_locales == ("fr-FR", "en")


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected", "code"),
    [
        (
            (400, error_body("invalid_request_error", "parameter_invalid")),
            StripeRejected,
            "parameter_invalid",
        ),
        (402, StripeRejected, "card_declined"),
        (401, StripeAuthError, None),
        (403, StripeAuthError, None),
        (404, StripeRejected, "resource_missing"),
        ((400, error_body("idempotency_error")), StripeRejected, "idempotency_error"),
        # 409 is another in-flight request with the same key: outcome unknown, retry later.
        (409, StripeUnavailable, None),
        (429, StripeUnavailable, None),
        (500, StripeUnavailable, None),
        (503, StripeUnavailable, None),
        (connection_error(), StripeUnavailable, None),
    ],
    ids=[
        "400-invalid",
        "402-card",
        "401",
        "403",
        "404",
        "400-idempotency",
        "409-idempotency",
        "429",
        "500",
        "503",
        "connection",
    ],
)
def test_error_mapping(fault: Any, expected: type[BillingError], code: str | None) -> None:
    gateway, rec = recording_gateway(fault_responder([fault]))
    with pytest.raises(expected) as info:
        gateway.apply_discount(SUB_ID, "cp_x", idempotency_key="ik-err")
    err = info.value
    assert isinstance(err, BillingError)
    assert err.retryable is (expected is StripeUnavailable)
    if isinstance(err, StripeRejected):
        assert err.code == code
    assert not isinstance(err, stripe.StripeError)
    assert len(rec.requests) == 1


def test_error_message_never_contains_a_key() -> None:
    body = error_body("invalid_request_error", None, "Invalid API Key provided: sk_live_abc123XYZ")
    gateway, _ = recording_gateway(fault_responder([(401, body)]))
    with pytest.raises(StripeAuthError) as info:
        gateway.read_subscription(SUB_ID)
    assert "sk_live_abc123XYZ" not in str(info.value)
    assert "abc123XYZ" not in repr(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_retries_reuse_the_same_idempotency_key() -> None:
    gateway, rec = recording_gateway(fault_responder([500, 500]), max_network_retries=2)
    view = gateway.apply_discount(SUB_ID, "cp_offer_20", idempotency_key="ik-retry")
    assert view.id == SUB_ID
    assert [r.idempotency_key for r in rec.requests] == ["ik-retry"] * 3
    assert len({tuple(sorted(r.params.items())) for r in rec.requests}) == 1


def test_delete_retries_after_connection_errors_reuse_the_same_key() -> None:
    responder = fault_responder([connection_error(), connection_error()])
    gateway, rec = recording_gateway(responder, max_network_retries=2)
    gateway.cancel_now(SUB_ID, feedback=None, comment=None, idempotency_key="ik-del")
    assert [(r.method, r.idempotency_key) for r in rec.requests] == [("delete", "ik-del")] * 3


def test_exhausted_retries_raise_unavailable() -> None:
    gateway, rec = recording_gateway(fault_responder([500, 500, 500]), max_network_retries=2)
    with pytest.raises(StripeUnavailable):
        gateway.resume(SUB_ID, idempotency_key="ik")
    assert len(rec.requests) == 3


def test_create_coupon_treats_existing_coupon_as_success() -> None:
    exists = error_body(
        "invalid_request_error", "resource_already_exists", "Coupon already exists."
    )
    gateway, rec = recording_gateway(fault_responder([(400, exists)]))
    coupon_id = gateway.create_coupon(
        coupon_id="cp_offer_20",
        name="20% off",
        percent_off=20,
        amount_off=None,
        currency=None,
        duration="once",
        duration_in_months=None,
        idempotency_key="ik-c",
    )
    assert coupon_id == "cp_offer_20"
    assert len(rec.requests) == 1


def test_create_coupon_other_rejections_propagate() -> None:
    gateway, _ = recording_gateway(fault_responder([400]))
    with pytest.raises(StripeRejected) as info:
        gateway.create_coupon(
            coupon_id="cp",
            name="n",
            percent_off=150,
            amount_off=None,
            currency=None,
            duration="once",
            duration_in_months=None,
            idempotency_key="k",
        )
    assert info.value.code == "parameter_invalid"


# --- preview ----------------------------------------------------------------------------------


def test_preview_answers_every_operation_and_records_it() -> None:
    gateway = Gateway.preview()
    view = gateway.read_subscription("sub_demo")
    assert (view.id, view.status, view.item_id) == ("sub_demo", "active", "si_preview")
    assert view.plan_name
    assert view.unit_amount > 0
    assert view.current_period_end

    assert (
        gateway.create_coupon(
            coupon_id="cp_demo",
            name="Demo",
            percent_off=25.5,
            amount_off=None,
            currency=None,
            duration="once",
            duration_in_months=None,
            idempotency_key="p1",
        )
        == "cp_demo"
    )
    assert gateway.apply_discount("sub_demo", "cp_demo", idempotency_key="p2").discount_coupons == (
        "cp_demo",
    )
    paused = gateway.pause(
        "sub_demo", resumes_at=1_770_000_000, behavior="void", idempotency_key="p3"
    )
    assert paused.paused is True
    assert gateway.resume("sub_demo", idempotency_key="p4").paused is False
    switched = gateway.switch_price(
        "sub_demo",
        item_id="si_preview",
        price_id="price_new",
        proration_behavior="none",
        idempotency_key="p5",
    )
    assert switched.price_id == "price_new"
    trial = gateway.extend_trial("sub_demo", trial_end=1_770_000_000, idempotency_key="p6")
    assert (trial.trial_end, trial.status) == (1_770_000_000, "trialing")
    scheduled = gateway.cancel_at_period_end(
        "sub_demo", feedback="unused", comment=None, idempotency_key="p7"
    )
    assert scheduled.cancel_at_period_end is True
    assert gateway.undo_cancel("sub_demo", idempotency_key="p8").cancel_at_period_end is False
    canceled = gateway.cancel_now("sub_demo", feedback=None, comment=None, idempotency_key="p9")
    assert canceled.status == "canceled"
    assert canceled.canceled_at
    url = gateway.portal_url("cus_demo", return_url="https://m.example/r", idempotency_key="p10")
    assert url.startswith("https://billing.stripe.com/p/session/preview_")

    recorded = gateway.recorded
    assert [(r.method, r.path) for r in recorded] == [
        ("get", "/v1/subscriptions/sub_demo"),
        ("post", "/v1/coupons"),
        *[("post", "/v1/subscriptions/sub_demo")] * 7,
        ("delete", "/v1/subscriptions/sub_demo"),
        ("post", "/v1/billing_portal/sessions"),
    ]
    assert [r.idempotency_key for r in recorded[1:]] == [f"p{i}" for i in range(1, 11)]
    assert all(urlsplit(r.url).hostname == "api.stripe.com" for r in recorded)
    assert all(r.stripe_version == API_VERSION for r in recorded)


def test_preview_unknown_path_is_a_404() -> None:
    status, body = preview_answer(RecordedRequest("get", "/v1/customers/cus_1", {}, None))
    assert status == 404
    assert body["error"]["code"] == "resource_missing"


def test_preview_recorded_is_a_copy() -> None:
    gateway = Gateway.preview()
    gateway.read_subscription("sub_demo")
    gateway.recorded.clear()
    assert len(gateway.recorded) == 1


def test_gateway_without_recorder_records_nothing() -> None:
    rec = RecordingHTTPClient(fixture_responder())
    gateway = Gateway(stripe.StripeClient("sk_test_x", http_client=rec))
    gateway.read_subscription(SUB_ID)
    assert gateway.recorded == []
    assert len(rec.requests) == 1


# --- webhooks ---------------------------------------------------------------------------------


def test_verify_webhook_returns_plain_event() -> None:
    body, header = signed_webhook(
        event(
            "customer.subscription.updated",
            subscription(customer=CUSTOMER_ID),
            data={"object": subscription(), "previous_attributes": {"status": "past_due"}},
        )
    )
    got = verify_webhook(body, header, WEBHOOK_SECRET)
    assert (got.id, got.type, got.created, got.livemode) == (
        "evt_1PgcTest",
        "customer.subscription.updated",
        CREATED,
        False,
    )
    assert got.object["id"] == SUB_ID
    assert got.previous_attributes == {"status": "past_due"}
    assert got.account is None


@pytest.mark.parametrize(
    ("header_of", "secret"),
    [
        (lambda h: h, "whsec_other"),
        (lambda h: None, WEBHOOK_SECRET),
        (lambda h: "garbage", WEBHOOK_SECRET),
    ],
    ids=["wrong-secret", "missing-header", "garbage-header"],
)
def test_verify_webhook_rejects_bad_signatures(header_of: Any, secret: str) -> None:
    body, header = signed_webhook(event("invoice.paid", {"id": "in_1"}))
    with pytest.raises(InvalidWebhook) as info:
        verify_webhook(body, header_of(header), secret)
    assert info.value.retryable is False
    assert WEBHOOK_SECRET not in str(info.value)


def test_verify_webhook_rejects_old_timestamps_and_tampered_bodies() -> None:
    old_body, old_header = signed_webhook(event("invoice.paid", {}), timestamp=CREATED)
    with pytest.raises(InvalidWebhook):
        verify_webhook(old_body, old_header, WEBHOOK_SECRET)
    body, header = signed_webhook(event("invoice.paid", {"amount_paid": 100}))
    with pytest.raises(InvalidWebhook):
        verify_webhook(body.replace(b"100", b"999"), header, WEBHOOK_SECRET)


def test_verify_webhook_rejects_signed_non_events() -> None:
    body, header = signed_webhook({"object": "customer", "id": "cus_1"})
    with pytest.raises(InvalidWebhook):
        verify_webhook(body, header, WEBHOOK_SECRET)
