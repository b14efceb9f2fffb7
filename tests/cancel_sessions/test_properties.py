"""Properties (hypothesis): a changed token never verifies; random walks through the flow with
the back button, refreshes, two tabs and Stripe outages never write twice, never 5xx, and never
change an outcome once it is set."""

from __future__ import annotations

import itertools
import string
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import stripe_support
from support.stripe_support import StatefulStripe

from cancelpage import cancel_sessions, links
from cancelpage.billing import RecordedRequest

SECRETS = ["older-secret", "newest-secret"]
TOKEN_CHARS = string.ascii_letters + string.digits + "-_.=!~%"


# ---- tokens ----------------------------------------------------------------------------------


@st.composite
def mutated_token(draw: st.DrawFn) -> tuple[str, str]:
    payload = links.LinkPayload(
        merchant="acme",
        customer=draw(st.from_regex(r"cus_[A-Za-z0-9]{1,14}", fullmatch=True)),
        subscription=draw(st.from_regex(r"sub_[A-Za-z0-9]{1,14}", fullmatch=True)),
        return_url=draw(st.sampled_from([None, "https://shop.example/account"])),
    )
    token = links.sign(payload, SECRETS, "cancel")
    at = draw(st.integers(0, len(token) - 1))
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "swap"]))
    if kind == "flip":
        # any other character, including the spare bits of the signature's last character
        mutated = token[:at] + draw(st.sampled_from(TOKEN_CHARS)) + token[at + 1 :]
    elif kind == "truncate":
        mutated = token[:at]
    elif kind == "insert":
        mutated = token[:at] + draw(st.text(TOKEN_CHARS, min_size=1, max_size=3)) + token[at:]
    elif kind == "delete":
        mutated = token[:at] + token[at + 1 :]
    else:
        other = draw(st.integers(0, len(token) - 1))
        chars = list(token)
        chars[at], chars[other] = chars[other], chars[at]
        mutated = "".join(chars)
    return token, mutated


@settings(max_examples=300, deadline=None)
@given(mutated_token())
def test_a_changed_token_never_verifies(case: tuple[str, str]) -> None:
    token, mutated = case
    assert links.verify(token, SECRETS, "cancel", 3600).merchant == "acme"
    if mutated != token:
        with pytest.raises(links.BadLink):
            links.verify(mutated, SECRETS, "cancel", 3600)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64).map(lambda b: b.hex()), st.integers(0, 8))
def test_flipped_bits_in_the_signature_never_verify(junk: str, bit: int) -> None:
    token = links.sign(links.LinkPayload("acme", "cus_1", "sub_" + junk[:10]), SECRETS, "cancel")
    head, _, signature = token.rpartition(".")
    from itsdangerous.encoding import base64_decode, base64_encode

    raw = bytearray(base64_decode(signature))
    raw[bit % len(raw)] ^= 1 << (bit % 8)
    with pytest.raises(links.BadLink):
        links.verify(f"{head}.{base64_encode(bytes(raw)).decode()}", SECRETS, "cancel", 3600)


# ---- random walks ----------------------------------------------------------------------------

REASONS = ["too_expensive", "unused", "missing_features", "switched_service", "other", "", "nope"]
OFFERS = ["discount_25_3m", "pause_1m", "pause_2m", "free_30d", "gone"]
form_for = {
    "survey": st.fixed_dictionaries(
        {
            "reason": st.sampled_from(REASONS),
            "comment": st.text(max_size=20),
            "action": st.sampled_from(["continue", "skip", ""]),
        }
    ),
    "offer": st.fixed_dictionaries(
        {
            "offer": st.sampled_from(OFFERS),
            "action": st.sampled_from(["accept", "decline", "cancel_now", "bogus"]),
        }
    ),
    "confirm": st.fixed_dictionaries({"action": st.sampled_from(["cancel", "keep", "bogus"])}),
    "keep": st.just({}),
    "done": st.just({"action": "cancel"}),
}
MOVES = ["current", "current", "current", "back", "random", "refresh", "reopen", "stripe_down"]
counter = itertools.count()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Many sessions from one address in a few seconds: limits off for this module."""
    return {**app_config, "RATELIMIT_ENABLED": False}


def kind_of(req: RecordedRequest) -> str:
    """An offer accepted on a subscription set to end clears the cancel in the same request
    ("offer+undo"): in place wholly or not at all."""
    if req.method == "delete" or req.params.get("cancel_at_period_end") == "true":
        return "cancel"
    if req.path == "/v1/coupons":
        return "coupon"
    undo = req.params.get("cancel_at_period_end") == "false"
    if (
        set(req.params)
        - {"cancel_at_period_end"}
        - {k for k in req.params if k.startswith("expand")}
    ):
        return "offer+undo" if undo else "offer"
    return "undo"


def current_form(data: st.DataObject, session: Any) -> tuple[str, dict[str, str]]:
    """What a customer on the current step would post: a valid choice on the step shown."""
    state = session.state
    if session.outcome is None and state["step"] == "offer":
        offer = state["offer_ids"][state["offer_index"]]
        action = data.draw(st.sampled_from(["accept", "decline", "cancel_now"]))
        return "offer", {"offer": offer, "action": action}
    if session.outcome is None and state["step"] == "confirm":
        return "confirm", {"action": data.draw(st.sampled_from(["cancel", "keep"]))}
    reason = data.draw(st.sampled_from(REASONS[:5]))
    return "survey", data.draw(st.sampled_from([{"reason": reason}, {"action": "skip"}]))


def pick_form(
    app: Flask,
    url: str,
    data: st.DataObject,
    what: str,
    posted: list[tuple[str, dict[str, str]]],
) -> tuple[str, dict[str, str]]:
    """The step and form a move posts: the page's own, an earlier one (back button), or any."""
    with app.app_context():
        session = cancel_sessions.by_capability(url.removeprefix("/s/"))
        assert session is not None
        if what == "current":
            return current_form(data, session)
        if what == "back" and posted:  # the back button: an earlier form, posted again
            return data.draw(st.sampled_from(posted))
        step = data.draw(st.sampled_from(list(form_for)))
        return step, data.draw(form_for[step])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), scheduled=st.booleans())
def test_random_walks_never_write_twice(
    app: Flask,
    live_merchant: Any,
    stripe_stub: Any,
    make_link: Any,
    data: st.DataObject,
    scheduled: bool,
) -> None:
    stripe = StatefulStripe(stripe_support.subscription(cancel_at_period_end=scheduled))
    outages: list[int] = []

    def respond(req: RecordedRequest) -> Any:
        if req.method != "get" and outages:
            outages.pop()
            return 500, stripe_support.default_error_body(500)
        return stripe(req)

    stripe_stub.responder = respond
    before = len(stripe_stub.requests)
    n = str(next(counter))
    link = make_link("live", customer=stripe_support.CUSTOMER_ID, attributes={"n": n})
    tabs = [app.test_client(), app.test_client()]  # two tabs on one session
    url = tabs[0].get(link).headers["Location"]
    outcome: str | None = None
    posted: list[tuple[str, dict[str, str]]] = []
    for _ in range(data.draw(st.integers(1, 14), label="length")):
        client = tabs[data.draw(st.integers(0, 1), label="tab")]
        headers = {"HX-Request": "true"} if data.draw(st.booleans(), label="htmx") else {}
        what = data.draw(st.sampled_from(MOVES), label="move")
        step, form = pick_form(app, url, data, what, posted)
        if what == "stripe_down":
            outages.append(1)
            continue
        if what == "refresh":
            response = client.get(url, headers=headers)
        elif what == "reopen":
            response = client.get(link)
        else:
            posted.append((step, form))
            response = client.post(f"{url}/{step}", data=form, headers=headers)
        assert response.status_code < 500, (what, step, form, response.status_code)
        with app.app_context():
            session = cancel_sessions.by_capability(url.removeprefix("/s/"))
            assert session is not None
            now = session.outcome
        if outcome is not None:
            assert now == outcome, "an outcome never changes"
        outcome = now

    event(f"outcome: {outcome}")
    sent = [r for r in stripe_stub.requests[before:] if r.method != "get"]
    applied = {r.idempotency_key: kind_of(r) for r in sent if r.idempotency_key in stripe.applied}
    kinds = list(applied.values())
    subscription_writes = [k for k in kinds if k != "coupon"]
    assert len(subscription_writes) <= 1, f"two subscription writes: {sent}"
    assert kinds.count("coupon") <= 1, f"two coupons: {sent}"
    if outcome is None:
        assert subscription_writes == []
    elif outcome == "canceled":
        assert set(kinds) == (set() if scheduled else {"cancel"})
    elif outcome == "accepted":
        assert set(subscription_writes) <= {"offer+undo" if scheduled else "offer"}
    else:
        assert outcome == "kept"
        assert set(kinds) == ({"undo"} if scheduled else set())
