"""Preview mode: every operation answered from synthesised objects and recorded."""

from __future__ import annotations

from urllib.parse import urlsplit

import stripe
from support.stripe_support import (
    SUB_ID,
    fixture_responder,
)

from cancelpage.billing import (
    API_VERSION,
    Gateway,
    RecordedRequest,
    RecordingHTTPClient,
)
from cancelpage.billing.preview import preview_answer

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
