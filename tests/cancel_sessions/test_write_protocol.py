"""What the customer is told is what Stripe holds, whatever the network does (docs/RELIABILITY.md
13-15), against the Stripe emulator: a real HTTP server on 127.0.0.1 that keeps the first result
per idempotency key (500s included), refuses a key reused with other parameters, and applies a
write and then drops the connection, times out, or answers 409, 429 or 500 when told to.

Every test ends by comparing the page with the emulator's final state and counting the writes
the emulator applied.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.stripe_emulator import FAULT_KINDS, Seed, StripeEmulator

from cancelpage import flows
from cancelpage.billing import Gateway
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug, publish_flow
from cancelpage.models import CancelSession, StripeWrite

SUBSCRIPTION = r"/v1/subscriptions/sub_\w+"
PENDING = "We're waiting for an answer from the billing system"
CANCELED = "Your subscription is canceled"
CONTINUES = "Your subscription continues"
SAVED = "Thank you for staying!"
NOT_APPLIED = "We couldn't apply that change, and nothing was changed"


def text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


@pytest.fixture
def emu(app: Flask, live_merchant: Any) -> Iterator[StripeEmulator]:
    """The live merchant's Stripe is the emulator (SDK retries on, as in production)."""
    with StripeEmulator() as emulator:
        app.extensions["cancelpage.gateway"] = lambda merchant: Gateway.for_key(
            merchant.stripe_key(),
            api_base=emulator.url,
            http_client=emulator.http_client(timeout=0.4),
            max_network_retries=2,
        )
        with app.app_context():
            merchant = by_slug("live")
            data = flows.flow_to_dict(flows.default_flow())
            starter = emulator.add_price(id="price_starter", unit_amount=900)
            data["offers"].append(
                {
                    "id": "starter",
                    "kind": "switch_plan",
                    "title": "Switch to Starter",
                    "price_id": starter,
                    "proration_behavior": "none",
                }
            )
            data["rules"].insert(
                0,
                {
                    "name": "Simpler",
                    "reasons": ["too_complex"],
                    "conditions": [],
                    "offers": ["starter"],
                },
            )
            publish_flow(merchant, data)
            db.session.commit()
        yield emulator


@dataclass
class Customer:
    """One customer's cancel session on the live merchant, seen through the test client."""

    client: FlaskClient
    url: str
    seed: Seed

    def post(self, step: str, **form: str) -> str:
        return text(self.client.post(f"{self.url}/{step}", data=form, follow_redirects=True))

    def page(self) -> str:
        return text(self.client.get(self.url))


def customer(
    app: Flask,
    emu: StripeEmulator,
    client: FlaskClient,
    start: Any,
    mode: str = "period_end",
    **sub: Any,
) -> Customer:
    with app.app_context():
        by_slug("live").cancel_mode = mode
        db.session.commit()
    seed = emu.seed_subscription(**sub)
    url = start("live", customer=seed.customer, subscription=seed.subscription, locale="en")
    return Customer(client, url, seed)


def writes_received(emu: StripeEmulator, seed: Seed) -> list[Any]:
    return [
        r
        for r in emu.requests
        if r.method in ("POST", "DELETE") and r.path.endswith(seed.subscription)
    ]


def lost_answers_and_reads(emu: StripeEmulator, method: str = "POST", clicks: int = 1) -> None:
    """The write is applied but its answer is lost (three times: the SDK retries twice), and
    the reads of the next ``clicks`` requests fail too (three tries each): nobody knows yet
    what happened."""
    emu.inject("apply_then_drop", method=method, path=SUBSCRIPTION, times=3)
    emu.inject("drop_before", method="GET", path=SUBSCRIPTION, times=3 * (1 + clicks))


def rows(app: Flask) -> list[StripeWrite]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(StripeWrite).order_by(StripeWrite.id)))
        for row in found:
            db.session.expunge(row)
        return found


def outcome(app: Flask) -> str | None:
    with app.app_context():
        return db.session.scalars(sa.select(CancelSession)).one().outcome


# ---- the table of issue 12: a second choice while the first one's answer is lost ------------


def test_cancel_applied_answer_lost_then_keep_is_refused_and_the_page_says_canceled(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any
) -> None:
    c = customer(app, emu, client, start)
    c.post("survey", action="skip")
    lost_answers_and_reads(emu)
    assert PENDING in c.post("confirm", action="cancel")
    # Keep while the cancel's answer is unknown: refused, the open choice is shown instead
    assert PENDING in c.post("confirm", action="keep")
    # The next request reads Stripe: the cancel is there, and so the page says
    page = c.page()
    assert CANCELED in page
    assert CONTINUES not in page
    sub = emu.subscription(c.seed.subscription)
    assert sub["cancel_at_period_end"] is True
    assert emu.writes_applied(c.seed.subscription) == 1
    assert len(writes_received(emu, c.seed)) == 3  # the first try and the SDK's two retries
    assert outcome(app) == "canceled"


def test_cancel_now_applied_answer_lost_then_keep_is_refused(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any
) -> None:
    c = customer(app, emu, client, start, mode="immediately")
    c.post("survey", action="skip")
    lost_answers_and_reads(emu, method="DELETE")
    assert PENDING in c.post("confirm", action="cancel")
    assert PENDING in c.post("confirm", action="keep")
    assert CANCELED in c.page()
    assert emu.subscription(c.seed.subscription)["status"] == "canceled"
    assert emu.writes_applied(c.seed.subscription) == 1
    assert len(writes_received(emu, c.seed)) == 3


def test_undo_applied_answer_lost_then_cancel_is_refused_and_the_page_says_continues(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any
) -> None:
    c = customer(app, emu, client, start, cancel_at_period_end=True)
    lost_answers_and_reads(emu, clicks=2)
    assert PENDING in c.post("keep")
    assert PENDING in c.post("confirm", action="cancel")
    assert PENDING in c.post("survey", action="skip")
    page = c.page()
    assert CONTINUES in page
    assert CANCELED not in page
    assert emu.subscription(c.seed.subscription)["cancel_at_period_end"] is False
    assert emu.writes_applied(c.seed.subscription) == 1
    assert len(writes_received(emu, c.seed)) == 3


def test_pause_applied_answer_lost_then_decline_and_cancel_are_refused(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any
) -> None:
    c = customer(app, emu, client, start)
    c.post("survey", reason="unused")
    lost_answers_and_reads(emu, clicks=2)
    assert PENDING in c.post("offer", offer="pause_1m", action="accept")
    assert PENDING in c.post("offer", offer="pause_1m", action="decline")
    assert PENDING in c.post("confirm", action="cancel")
    assert SAVED in c.page()
    sub = emu.subscription(c.seed.subscription)
    assert sub["pause_collection"] is not None
    assert sub["cancel_at_period_end"] is False
    assert emu.writes_applied(c.seed.subscription) == 1
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        assert (session.outcome, session.accepted_offer) == ("accepted", "pause_1m")


def test_discount_applied_answer_lost_then_another_offer_is_refused(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any
) -> None:
    c = customer(app, emu, client, start)
    c.post("survey", reason="too_expensive")
    lost_answers_and_reads(emu, clicks=2)
    assert PENDING in c.post("offer", offer="discount_25_3m", action="accept")
    assert PENDING in c.post("survey", reason="unused")
    assert PENDING in c.post("offer", offer="pause_1m", action="accept")
    assert SAVED in c.page()
    sub = emu.subscription(c.seed.subscription)
    assert sub["pause_collection"] is None
    assert len(emu.discount_coupons(c.seed.subscription)) == 1
    assert emu.writes_applied(c.seed.subscription) == 1


# ---- Stripe's idempotency rules: stored failures, changed answers, the same request again ---


def test_a_stored_500_does_not_block_the_customer_the_next_click_is_a_new_attempt(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any
) -> None:
    c = customer(app, emu, client, start)
    c.post("survey", action="skip")
    emu.inject("500", method="POST", path=SUBSCRIPTION)
    failed = c.post("confirm", action="cancel")
    assert NOT_APPLIED in failed
    assert 'value="cancel"' in failed  # the customer can go on at once
    assert emu.subscription(c.seed.subscription)["cancel_at_period_end"] is False
    first = writes_received(emu, c.seed)[-1].idempotency_key
    # Stripe would answer this key 500 for a day
    assert emu.stored_result(first, api_key="sk_test_live123")[0] == 500
    assert CANCELED in c.post("confirm", action="cancel")
    keys = [r.idempotency_key for r in writes_received(emu, c.seed)]
    assert len(set(keys)) == 2
    assert keys[-1] != first
    assert emu.subscription(c.seed.subscription)["cancel_at_period_end"] is True
    assert emu.writes_applied(c.seed.subscription) == 1
    assert [(r.attempt, r.status) for r in rows(app)] == [(1, "not_applied"), (2, "succeeded")]


def test_a_changed_reason_after_a_failure_is_sent_as_a_new_attempt(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any
) -> None:
    c = customer(app, emu, client, start)
    c.post("survey", reason="too_expensive", comment="Too pricey")
    c.post("offer", offer="discount_25_3m", action="cancel_now")
    emu.inject("500", method="POST", path=SUBSCRIPTION)
    assert NOT_APPLIED in c.post("confirm", action="cancel")
    c.post("survey", reason="unused", comment="I stopped using it")
    c.post("offer", offer="pause_1m", action="cancel_now")
    assert CANCELED in c.post("confirm", action="cancel")
    assert not [r for r in emu.requests if r.status == 400]  # never an idempotency_error
    details = emu.subscription(c.seed.subscription)["cancellation_details"]
    assert (details["feedback"], details["comment"]) == ("unused", "I stopped using it")
    assert emu.writes_applied(c.seed.subscription) == 1


def test_no_answer_and_a_read_that_shows_nothing_resends_the_same_request(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any
) -> None:
    """Dropped before Stripe saw it: the read shows nothing, so only the same request under the
    same key may settle it (a new key could apply it twice if the first were still running)."""
    c = customer(app, emu, client, start)
    c.post("survey", action="skip")
    emu.inject("drop_before", method="POST", path=SUBSCRIPTION, times=3)
    assert PENDING in c.post("confirm", action="cancel")
    assert PENDING in c.page()  # the read shows no cancel: still unknown
    assert CANCELED in c.post("again")
    sent = writes_received(emu, c.seed)
    assert len(sent) == 4
    assert len({r.idempotency_key for r in sent}) == 1
    assert len({tuple(r.form) for r in sent}) == 1  # byte for byte the same request
    assert emu.writes_applied(c.seed.subscription) == 1


# ---- every write path x every fault ----------------------------------------------------------


@dataclass(frozen=True)
class Path:
    name: str
    walk: tuple[tuple[str, dict[str, str]], ...]
    final: tuple[str, dict[str, str]]
    outcome: str
    method: str = "POST"
    mode: str = "period_end"
    sub: tuple[tuple[str, Any], ...] = ()

    def holds(self, emu: StripeEmulator, seed: Seed) -> bool:
        """Whether the emulator holds what this path's outcome promises."""
        sub = emu.subscription(seed.subscription)
        return {
            "discount": lambda: len(emu.discount_coupons(seed.subscription)) == 1,
            "pause": lambda: sub["pause_collection"] is not None,
            "switch": lambda: sub["items"]["data"][0]["price"]["id"] == "price_starter",
            "free_period": lambda: sub["trial_end"] is not None,
            "cancel_at_period_end": lambda: sub["cancel_at_period_end"] is True,
            "cancel_now": lambda: sub["status"] == "canceled",
            "undo": lambda: sub["cancel_at_period_end"] is False,
            "portal": lambda: len(emu.portal_sessions) >= 1,
        }[self.name]()


PATHS = [
    Path(
        "discount",
        (("survey", {"reason": "too_expensive"}),),
        ("offer", {"offer": "discount_25_3m", "action": "accept"}),
        "accepted",
    ),
    Path(
        "pause",
        (("survey", {"reason": "unused"}),),
        ("offer", {"offer": "pause_1m", "action": "accept"}),
        "accepted",
    ),
    Path(
        "switch",
        (("survey", {"reason": "too_complex"}),),
        ("offer", {"offer": "starter", "action": "accept"}),
        "accepted",
    ),
    Path(
        "free_period",
        (("survey", {"reason": "missing_features"}),),
        ("offer", {"offer": "free_30d", "action": "accept"}),
        "accepted",
    ),
    Path(
        "cancel_at_period_end",
        (("survey", {"action": "skip"}),),
        ("confirm", {"action": "cancel"}),
        "canceled",
    ),
    Path(
        "cancel_now",
        (("survey", {"action": "skip"}),),
        ("confirm", {"action": "cancel"}),
        "canceled",
        method="DELETE",
        mode="immediately",
    ),
    Path("undo", (), ("keep", {}), "kept", sub=(("cancel_at_period_end", True),)),
    Path(
        "portal",
        (("survey", {"action": "skip"}),),
        ("confirm", {"action": "cancel"}),
        "portal",
        mode="portal",
    ),
]


@pytest.mark.parametrize("fault", FAULT_KINDS)
@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_every_write_under_every_fault_ends_as_stripe_holds_it(
    app: Flask, emu: StripeEmulator, client: FlaskClient, start: Any, path: Path, fault: Any
) -> None:
    c = customer(app, emu, client, start, mode=path.mode, **dict(path.sub))
    for step, form in path.walk:
        c.post(step, **form)
    target = r"/v1/billing_portal/sessions" if path.name == "portal" else SUBSCRIPTION
    # No answer three times over beats the SDK's two retries; the SDK retries 409 and 429 itself.
    lost = fault in ("apply_then_drop", "drop_before", "timeout")
    emu.inject(fault, method=path.method, path=target, times=3 if lost else 1)
    step, form = path.final
    response = client.post(f"{c.url}/{step}", data=form)
    # The customer goes on as the page says until the choice is carried out.
    for _ in range(4):
        if response.status_code == 303 and emu.portal_base in response.headers["Location"]:
            break
        # A failure is said on the page the POST answers; a 303 leads to the step page.
        page = text(response) if response.status_code == 200 else text(client.get(c.url))
        if PENDING in page:
            response = client.post(f"{c.url}/again")
        elif NOT_APPLIED in page or "Please try again" in page:
            response = client.post(f"{c.url}/{step}", data=form)
        else:
            break
    assert outcome(app) == path.outcome
    assert path.holds(emu, c.seed)
    page = c.page()
    expected = {
        "accepted": SAVED,
        "canceled": CANCELED,
        "kept": CONTINUES,
        "portal": "Continue in the billing portal",
    }
    assert expected[path.outcome] in page
    if path.name != "portal":
        assert emu.writes_applied(c.seed.subscription) == 1
    assert not [r for r in emu.requests if r.status == 400]  # never an idempotency_error


# ---- the portal hand-off is re-entrant --------------------------------------------------------


def test_after_the_portal_hand_off_the_link_still_leads_into_the_portal(
    app: Flask, emu: StripeEmulator, client: FlaskClient, make_link: Any
) -> None:
    with app.app_context():
        by_slug("live").cancel_mode = "portal"
        db.session.commit()
    seed = emu.seed_subscription()
    link = make_link("live", customer=seed.customer, subscription=seed.subscription, locale="en")
    url = client.get(link).headers["Location"]
    client.post(f"{url}/survey", data={"action": "skip"})
    first = client.post(f"{url}/confirm", data={"action": "cancel"})
    assert first.status_code == 303
    assert "Open the billing portal again" in text(client.get(link, follow_redirects=True))
    again = client.post(f"{url}/portal")
    assert again.status_code == 303
    assert again.headers["Location"] != first.headers["Location"]  # a fresh portal session
    assert len(emu.portal_sessions) == 2
    keys = [r.idempotency_key for r in emu.requests_to("POST", r"/v1/billing_portal/sessions")]
    assert len(set(keys)) == 2
    assert emu.writes_applied(seed.subscription) == 0  # the portal itself changes nothing
