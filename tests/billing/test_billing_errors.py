"""Every stripe-python error turned into the project's own, with keys redacted."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from support.stripe_support import (
    SUB_ID,
    connection_error,
    error_body,
    fault_responder,
    recording_gateway,
)

from cancelpage.billing import (
    BillingError,
    StripeAuthError,
    StripeRejected,
    StripeUnavailable,
)

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
