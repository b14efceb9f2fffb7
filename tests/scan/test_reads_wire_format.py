"""The exact wire format of every read the revenue scan makes (recording client), and how a read
pages, counts its requests, waits out 429s and stops at its budget."""

from __future__ import annotations

from typing import Any

import pytest
from support.stripe_support import discount, error_body, recording_gateway, subscription

from cancelpage.billing import ReadStats, RecordedRequest, RequestBudgetExceeded, StripeUnavailable
from cancelpage.billing.paging import RATE_LIMIT_RETRIES
from cancelpage.billing.values import DiscountTerms, PricedItem


def page_of(objects: list[dict[str, Any]], more: bool, path: str) -> tuple[int, dict[str, Any]]:
    return 200, {"object": "list", "data": objects, "has_more": more, "url": path}


def stats(**kw: Any) -> ReadStats:
    return ReadStats(
        max_requests=kw.pop("max_requests", 100), sleep=kw.pop("sleep", lambda s: None)
    )


def test_ended_subscriptions_wire_format_first_page_and_the_next() -> None:
    sub = subscription(discounts=[discount("cp_twenty")])

    def respond(req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        return page_of([sub], "starting_after" not in req.params, req.path)

    gateway, rec = recording_gateway(respond)
    read = stats()
    first = gateway.subscriptions_page("canceled", stats=read, created_before=1_780_000_000)
    second = gateway.subscriptions_page(
        "canceled", stats=read, created_before=1_780_000_000, starting_after=first.next_cursor
    )
    first_page = {
        "status": "canceled",
        "limit": "100",
        "expand[0]": "data.discounts.source.coupon",
        "created[lt]": "1780000000",
    }
    assert [(r.method, r.path, r.params, r.idempotency_key) for r in rec.requests] == [
        ("get", "/v1/subscriptions", first_page, None),
        ("get", "/v1/subscriptions", {**first_page, "starting_after": sub["id"]}, None),
    ]
    assert first.next_cursor == sub["id"]
    assert second.next_cursor is None
    assert read.requests == 2
    scanned = first.items[0]
    assert scanned.items == (PricedItem(2900, 1, "month", 1),)
    assert scanned.discounts == (DiscountTerms(20.0, None, None, None),)


@pytest.mark.parametrize("status", ["past_due", "unpaid", "active", "trialing"])
def test_current_subscriptions_are_listed_by_status_without_a_date_filter(status: Any) -> None:
    gateway, rec = recording_gateway(lambda req: page_of([], False, req.path))
    page = gateway.subscriptions_page(status, stats=stats())
    assert page.items == ()
    assert page.next_cursor is None
    assert [(r.path, r.params) for r in rec.requests] == [
        (
            "/v1/subscriptions",
            {"status": status, "limit": "100", "expand[0]": "data.discounts.source.coupon"},
        )
    ]


@pytest.mark.parametrize("status", ["paid", "open", "uncollectible", "void"])
def test_invoices_wire_format(status: Any) -> None:
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "status": status,
        "currency": "jpy",
        "created": 1_770_000_000,
        "amount_due": 3000,
        "amount_remaining": 3000,
        "attempt_count": 2,
    }
    gateway, rec = recording_gateway(lambda req: page_of([invoice], True, req.path))
    page = gateway.invoices_page(
        status,
        stats=stats(),
        created_from=1_760_000_000,
        created_before=1_790_000_000,
        starting_after="in_0",
    )
    assert [(r.method, r.path, r.params, r.idempotency_key) for r in rec.requests] == [
        (
            "get",
            "/v1/invoices",
            {
                "status": status,
                "collection_method": "charge_automatically",
                "created[gte]": "1760000000",
                "created[lt]": "1790000000",
                "limit": "100",
                "starting_after": "in_0",
            },
            None,
        )
    ]
    assert page.next_cursor == "in_1"
    assert page.items[0].amount_due == 3000
    assert page.items[0].attempt_count == 2


def rate_limited_then(answers: int) -> Any:
    calls = {"n": 0}

    def respond(req: RecordedRequest) -> Any:
        calls["n"] += 1
        if calls["n"] <= answers:
            return 429, error_body("invalid_request_error", "rate_limit", "Too many requests")
        return page_of([], False, req.path)

    return respond


def test_429s_are_waited_out_with_growing_backoff_and_counted() -> None:
    waits: list[float] = []
    gateway, rec = recording_gateway(rate_limited_then(3))
    read = stats(sleep=waits.append)
    page = gateway.subscriptions_page("active", stats=read)
    assert page.next_cursor is None
    assert len(rec.requests) == 4
    assert (read.requests, read.rate_limited) == (4, 3)
    # Doubling from 1 s, each with up to half taken off as jitter.
    assert [0.5 <= waits[0] <= 1, 1 <= waits[1] <= 2, 2 <= waits[2] <= 4] == [True] * 3


def test_a_rate_limit_that_never_ends_is_reported() -> None:
    gateway, rec = recording_gateway(rate_limited_then(100))
    with pytest.raises(StripeUnavailable):
        gateway.subscriptions_page("active", stats=stats())
    assert len(rec.requests) == RATE_LIMIT_RETRIES + 1


def test_a_read_stops_at_its_request_budget() -> None:
    gateway, rec = recording_gateway(rate_limited_then(100))
    with pytest.raises(RequestBudgetExceeded):
        gateway.subscriptions_page("active", stats=stats(max_requests=2))
    assert len(rec.requests) == 2


def test_an_unexpanded_discount_and_a_metered_price_are_parsed_safely() -> None:
    sub = subscription(discounts=["di_1"])
    sub["items"]["data"][0]["price"]["recurring"]["usage_type"] = "metered"
    gateway, _ = recording_gateway(lambda req: page_of([sub], False, req.path))
    scanned = gateway.subscriptions_page("active", stats=stats()).items[0]
    assert scanned.discounts == ()
    assert scanned.items[0].unit_amount is None
