"""The wire format of the recovery writes: paying an invoice with a new card, and a win-back
promotion code restricted to one customer, single-use and expiring."""

from __future__ import annotations

from typing import Any

from support.gateway_support import only_request
from support.recovery_support import INVOICE_ID, PM_ID, paid_invoice
from support.stripe_support import CUSTOMER_ID, recording_gateway

from cancelpage.billing import RecordedRequest


def promotion_code(req: RecordedRequest) -> dict[str, Any]:
    return {
        "id": "promo_1PgcTest0001",
        "object": "promotion_code",
        "active": True,
        "code": "COMEBACK-7Q2X",
        "customer": CUSTOMER_ID,
        "expires_at": int(req.params["expires_at"]),
        "max_redemptions": 1,
        "promotion": {"type": "coupon", "coupon": "winback_20"},
        "times_redeemed": 0,
    }


def test_pay_invoice_wire_format() -> None:
    gateway, rec = recording_gateway(lambda req: (200, paid_invoice()))
    view = gateway.pay_invoice(INVOICE_ID, payment_method=PM_ID, idempotency_key="ik-pay")
    req = only_request(rec)
    assert (req.method, req.path) == ("post", f"/v1/invoices/{INVOICE_ID}/pay")
    assert req.params == {"payment_method": PM_ID, "expand[0]": "customer"}
    assert req.idempotency_key == "ik-pay"
    assert (view.status, view.amount_paid) == ("paid", 2900)


def test_create_promotion_code_wire_format() -> None:
    gateway, rec = recording_gateway(lambda req: (200, promotion_code(req)))
    code_id, code = gateway.create_promotion_code(
        coupon_id="winback_20",
        customer_id=CUSTOMER_ID,
        expires_at=1_924_992_000,
        idempotency_key="ik-promo",
    )
    req = only_request(rec)
    assert (req.method, req.path) == ("post", "/v1/promotion_codes")
    assert req.params == {
        "promotion[type]": "coupon",
        "promotion[coupon]": "winback_20",
        "customer": CUSTOMER_ID,
        "max_redemptions": "1",
        "expires_at": "1924992000",
    }
    assert req.idempotency_key == "ik-promo"
    assert (code_id, code) == ("promo_1PgcTest0001", "COMEBACK-7Q2X")


def test_read_invoice_with_discounts_sees_the_promotion_codes() -> None:
    discounted = paid_invoice(
        discounts=[{"id": "di_1", "object": "discount", "promotion_code": "promo_1PgcTest0001"}]
    )
    gateway, rec = recording_gateway(lambda req: (200, discounted))
    view = gateway.read_invoice(INVOICE_ID, with_discounts=True)
    assert only_request(rec).params == {"expand[0]": "customer", "expand[1]": "discounts"}
    assert view.promotion_codes == ("promo_1PgcTest0001",)
