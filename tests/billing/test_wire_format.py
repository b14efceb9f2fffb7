"""The Stripe gateway's exact wire format, one test per operation, and its retries."""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import requests
from support.gateway_support import (
    EXPAND,
    SUB_PATH,
    only_request,
)
from support.stripe_support import (
    CUSTOMER_ID,
    ITEM_ID,
    SUB_ID,
    fixture_responder,
    recording_gateway,
    subscription,
)

from cancelpage.billing import (
    API_VERSION,
    Gateway,
    RecordingHTTPClient,
    StripeAuthError,
    StripeUnavailable,
)

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
