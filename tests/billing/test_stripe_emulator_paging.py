"""The emulator's list pagination, as the revenue scan relies on it: newest first, pages of at most
100 with ``starting_after`` and ``has_more``, and the status, created and collection filters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from support.stripe_emulator import StripeEmulator

NOW = 1_780_000_000


@pytest.fixture
def emu() -> Iterator[StripeEmulator]:
    with StripeEmulator(now=NOW) as emulator:
        yield emulator


def every_page(client: stripe.StripeClient, path: str, params: dict[str, Any]) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        query = {**params, **({"starting_after": cursor} if cursor else {})}
        answer = client.raw_request("get", path, **query)
        body = client.deserialize(answer, api_mode="V1").to_dict()
        pages.append([o["id"] for o in body["data"]])
        if not body["has_more"]:
            return pages
        cursor = body["data"][-1]["id"]


def test_subscriptions_page_through_a_status_newest_first(emu: StripeEmulator) -> None:
    customer = emu.add_customer()
    price = emu.add_price()
    active = [emu.add_subscription(customer=customer, price=price) for _ in range(230)]
    for i in range(30):
        emu.add_subscription(customer=customer, price=price, status="past_due")
        emu.add_subscription(customer=customer, price=price, ended_at=NOW - i, created=NOW - 99)
    pages = every_page(emu.client(), "/v1/subscriptions", {"status": "active", "limit": 100})
    assert [len(p) for p in pages] == [100, 100, 30]
    assert [i for page in pages for i in page] == list(reversed(active))


def test_subscriptions_filter_on_created(emu: StripeEmulator) -> None:
    customer = emu.add_customer()
    price = emu.add_price()
    old = emu.add_subscription(customer=customer, price=price, ended_at=NOW, created=NOW - 500)
    emu.add_subscription(customer=customer, price=price, ended_at=NOW, created=NOW - 100)
    pages = every_page(
        emu.client(),
        "/v1/subscriptions",
        {"status": "canceled", "limit": 100, "created": {"lt": NOW - 200}},
    )
    assert pages == [[old]]


def test_invoices_filter_on_status_created_and_collection_method(emu: StripeEmulator) -> None:
    customer = emu.add_customer()
    wanted = [
        emu.add_invoice(customer=customer, status="paid", created=NOW - 10 * i) for i in range(150)
    ]
    emu.add_invoice(customer=customer, status="open", created=NOW - 5)
    emu.add_invoice(customer=customer, status="paid", created=NOW - 99_999)
    emu.add_invoice(
        customer=customer, status="paid", created=NOW - 7, collection_method="send_invoice"
    )
    pages = every_page(
        emu.client(),
        "/v1/invoices",
        {
            "status": "paid",
            "collection_method": "charge_automatically",
            "created": {"gte": NOW - 10_000, "lt": NOW + 1},
            "limit": 100,
        },
    )
    assert [len(p) for p in pages] == [100, 50]
    assert [i for page in pages for i in page] == list(reversed(wanted))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "nope"}, "Invalid status: nope"),
        ({"created": {"after": "1"}}, "Received unknown parameter: created[after]"),
        ({"limit": "101"}, "Invalid limit: must be between 1 and 100"),
        ({"starting_after": "in_missing"}, "No such object: 'in_missing'"),
    ],
)
def test_bad_list_parameters_are_refused(
    emu: StripeEmulator, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        emu.client().raw_request("get", "/v1/invoices", **params)
    assert message in str(refused.value)
