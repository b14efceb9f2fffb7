"""The Stripe emulator itself, through real stripe-python and through the project's Gateway
(``Gateway.for_key(key, api_base=emulator.url, http_client=...)``): wire format, objects,
Stripe's idempotency rules, and every fault kind."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
from support.stripe_emulator import KEY_TTL, FaultKind, Seed, StripeEmulator, decode_form

from cancelpage.billing import (
    Gateway,
    StripeRejected,
    StripeUnavailable,
    check_key,
)

KEY = "sk_test_emulator"
EXPAND = ["customer", "items.data.price.product", "discounts"]


@pytest.fixture
def emu() -> Iterator[StripeEmulator]:
    with StripeEmulator() as emulator:
        yield emulator


@pytest.fixture
def seed(emu: StripeEmulator) -> Seed:
    emu.add_coupon(id="cp_offer_20", name="20% off", duration="repeating", duration_in_months=3)
    emu.add_coupon(id="cp_offer_50", name="50% off", percent_off=50.0, duration="once")
    return emu.seed_subscription(email="jenny@example.com", preferred_locales=["fr-FR", "en"])


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def gateway(emu: StripeEmulator) -> GatewayFactory:
    def make(*, retries: int = 0, timeout: float = 2.0, api_key: str = KEY) -> Gateway:
        return Gateway.for_key(
            api_key,
            api_base=emu.url,
            max_network_retries=retries,
            http_client=emu.http_client(timeout=timeout),
        )

    return make


def raw(
    emu: StripeEmulator,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    *,
    key: str | None = None,
    api_key: str | None = KEY,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One request by hand (http.client), to see statuses and headers the SDK hides."""
    host, port = emu.address
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        body = urlencode(params or {})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if key:
            headers["Idempotency-Key"] = key
        if method == "POST":
            conn.request(method, path, body=body, headers=headers)
        else:
            conn.request(method, f"{path}?{body}" if body else path, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read()), dict(response.getheaders())
    finally:
        conn.close()


# --- the server -------------------------------------------------------------------------------


def test_binds_loopback_only_and_joins_its_threads() -> None:
    before = threading.active_count()
    with StripeEmulator() as emu:
        host, port = emu.address  # the listening socket's own getsockname()
        assert host == "127.0.0.1"
        # Bound to 127.0.0.1, not 0.0.0.0: another loopback address (still local) is refused.
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.2", port), timeout=0.5),
        ):
            pass
        assert emu.url == f"http://127.0.0.1:{port}"
        assert raw(emu, "GET", "/v1/coupons")[0] == 200
    assert threading.active_count() == before


def test_stop_does_not_wait_for_idle_keep_alive_connections() -> None:
    started = time.monotonic()
    with StripeEmulator() as emu:
        client = emu.client()
        client.v1.coupons.list({"limit": 1})  # leaves a pooled keep-alive connection open
    assert time.monotonic() - started < 2


def test_form_decoding_matches_stripe_nesting() -> None:
    params = decode_form(
        [
            ("discounts[0][coupon]", "cp_a"),
            ("items[0][id]", "si_1"),
            ("items[0][price]", "price_2"),
            ("expand[]", "customer"),
            ("expand[]", "discounts"),
            ("pause_collection", ""),
            ("flow_data[subscription_cancel][subscription]", "sub_1"),
        ]
    )
    assert params == {
        "discounts": [{"coupon": "cp_a"}],
        "items": [{"id": "si_1", "price": "price_2"}],
        "expand": ["customer", "discounts"],
        "pause_collection": "",
        "flow_data": {"subscription_cancel": {"subscription": "sub_1"}},
    }
    with pytest.raises(ValueError, match="conflicts with a scalar value"):
        decode_form([("discounts", ""), ("discounts[0][coupon]", "x")])
    with pytest.raises(ValueError, match="Invalid parameter name"):
        decode_form([("a[b", "x")])


def test_error_shapes_for_auth_unknown_urls_and_parameters(emu: StripeEmulator, seed: Seed) -> None:
    status, body, headers = raw(emu, "GET", "/v1/subscriptions", api_key=None)
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert headers["Request-Id"].startswith("req_")
    status, body, _ = raw(emu, "GET", "/v1/nothing_here")
    assert status == 404
    assert "Unrecognized request URL" in body["error"]["message"]
    # The old coupon= parameter is gone: a wrong wire format fails loudly, never silently.
    status, body, _ = raw(emu, "POST", f"/v1/subscriptions/{seed.subscription}", {"coupon": "x"})
    assert status == 400
    assert body["error"]["code"] == "parameter_unknown"
    assert body["error"]["param"] == "coupon"
    status, body, _ = raw(emu, "GET", "/v1/subscriptions/sub_missing")
    assert (status, body["error"]["code"]) == (404, "resource_missing")
    assert emu.writes_applied() == 0


def test_request_log_records_method_path_params_and_key(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    gateway().cancel_at_period_end(
        seed.subscription, feedback="too_expensive", comment="pricey", idempotency_key="k-log"
    )
    (req,) = emu.requests
    assert (req.method, req.path) == ("POST", f"/v1/subscriptions/{seed.subscription}")
    assert req.idempotency_key == "k-log"
    assert req.api_key == KEY
    assert req.stripe_version == "2026-10-28.endive"
    assert req.param("cancellation_details.feedback") == "too_expensive"
    assert req.params["expand"] == EXPAND
    assert ("cancellation_details[comment]", "pricey") in req.form
    assert (req.status, req.outcome, req.replayed, req.applied) == (200, "answered", False, True)
    assert "Authorization" not in req.headers


# --- objects and the gateway's requests -------------------------------------------------------


def test_gateway_reads_an_expanded_subscription(seed: Seed, gateway: GatewayFactory) -> None:
    view = gateway().read_subscription(seed.subscription)
    assert view.status == "active"
    assert view.customer == seed.customer
    assert view.plan_name == "Pro plan"
    assert view.unit_amount == 2900
    assert view.item_id == seed.item
    assert view.price_id == seed.price
    assert view.current_period_end is not None
    assert view.current_period_end > time.time()
    assert view.preferred_locales == ("fr-FR", "en")
    assert view.customer_email == "jenny@example.com"
    light = gateway().read_subscription_status(seed.subscription)
    assert light.plan_name is None
    assert light.customer_email == "jenny@example.com"


def test_discounts_replace_and_empty_string_clears(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    gw = gateway()
    assert gw.apply_discount(
        seed.subscription, "cp_offer_20", idempotency_key="d1"
    ).discount_coupons == ("cp_offer_20",)
    view = gw.apply_discount(seed.subscription, "cp_offer_50", idempotency_key="d2")
    assert view.discount_coupons == ("cp_offer_50",)
    assert emu.discount_coupons(seed.subscription) == ["cp_offer_50"]
    cleared = emu.client().v1.subscriptions.update(
        seed.subscription, {"discounts": ""}, {"idempotency_key": "d3"}
    )
    assert cleared.discounts == []
    assert emu.subscription(seed.subscription)["discounts"] == []
    status, body, _ = raw(
        emu, "POST", f"/v1/subscriptions/{seed.subscription}", {"discounts[0][coupon]": "nope"}
    )
    assert (status, body["error"]["code"]) == (404, "resource_missing")
    assert emu.writes_applied(seed.subscription) == 3


def test_pause_does_not_change_status_and_resume_clears(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    gw = gateway()
    resumes_at = int(time.time()) + 30 * 86400
    view = gw.pause(seed.subscription, resumes_at=resumes_at, behavior="void", idempotency_key="p1")
    assert view.paused
    assert view.status == "active"
    assert emu.subscription(seed.subscription)["pause_collection"] == {
        "behavior": "void",
        "resumes_at": resumes_at,
    }
    view = gw.resume(seed.subscription, idempotency_key="p2")
    assert not view.paused
    assert view.status == "active"
    assert emu.subscription(seed.subscription)["pause_collection"] is None


def test_trial_end_moves_the_billing_anchor(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    trial_end = int(time.time()) + 45 * 86400
    view = gateway().extend_trial(seed.subscription, trial_end=trial_end, idempotency_key="t1")
    assert view.status == "trialing"
    assert view.trial_end == trial_end
    assert view.current_period_end == trial_end
    assert emu.subscription(seed.subscription)["billing_cycle_anchor"] == trial_end
    with pytest.raises(StripeRejected) as err:
        gateway().extend_trial(seed.subscription, trial_end=1, idempotency_key="t2")
    assert err.value.http_status == 400


def test_switch_price_keeps_the_item(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    cheaper = emu.add_price(product=seed.product, unit_amount=900, nickname="Lite")
    view = gateway().switch_price(
        seed.subscription,
        item_id=seed.item,
        price_id=cheaper,
        proration_behavior="none",
        idempotency_key="s1",
    )
    assert (view.item_id, view.price_id, view.unit_amount, view.plan_name) == (
        seed.item,
        cheaper,
        900,
        "Lite",
    )
    assert emu.applied[-1].params["proration_behavior"] == "none"
    with pytest.raises(StripeRejected):
        gateway().switch_price(
            seed.subscription,
            item_id="si_other",
            price_id=cheaper,
            proration_behavior="none",
            idempotency_key="s2",
        )


def test_cancel_at_period_end_undo_and_canceled_subscriptions(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    gw = gateway()
    view = gw.cancel_at_period_end(
        seed.subscription, feedback="unused", comment=None, idempotency_key="c1"
    )
    assert view.cancel_at_period_end
    assert view.cancel_at == view.current_period_end
    sub = emu.subscription(seed.subscription)
    assert sub["cancellation_details"] == {
        "comment": None,
        "feedback": "unused",
        "reason": "cancellation_requested",
    }
    assert sub["status"] == "active"
    view = gw.undo_cancel(seed.subscription, idempotency_key="c2")
    assert not view.cancel_at_period_end
    assert view.cancel_at is None
    view = gw.cancel_now(seed.subscription, feedback="other", comment="bye", idempotency_key="c3")
    assert view.status == "canceled"
    assert view.canceled_at is not None
    with pytest.raises(StripeRejected) as err:
        gw.undo_cancel(seed.subscription, idempotency_key="c4")
    assert "canceled subscription can only update" in err.value.message


def test_delete_with_idempotency_key_replays_instead_of_404(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    gw = gateway()
    first = gw.cancel_now(seed.subscription, feedback="unused", comment=None, idempotency_key="x1")
    again = gw.cancel_now(seed.subscription, feedback="unused", comment=None, idempotency_key="x1")
    assert first == again
    assert again.status == "canceled"
    assert [r.replayed for r in emu.requests] == [False, True]
    assert emu.writes_applied(seed.subscription) == 1
    # A new key is a new attempt: Stripe answers 404 for a subscription already canceled.
    with pytest.raises(StripeRejected) as err:
        gw.cancel_now(seed.subscription, feedback="unused", comment=None, idempotency_key="x2")
    assert (err.value.http_status, err.value.code) == (404, "resource_missing")
    # Same key, other parameters: refused, even on DELETE.
    with pytest.raises(StripeRejected) as err:
        gw.cancel_now(seed.subscription, feedback="other", comment=None, idempotency_key="x1")
    assert err.value.code == "idempotency_error"


def test_coupons_portal_invoices_customers(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    gw = gateway()
    args: dict[str, Any] = {
        "coupon_id": "cp_new",
        "name": "10 off",
        "percent_off": None,
        "amount_off": 1000,
        "currency": "eur",
        "duration": "once",
        "duration_in_months": None,
    }
    assert gw.create_coupon(**args, idempotency_key="cp1") == "cp_new"
    assert gw.create_coupon(**args, idempotency_key="cp2") == "cp_new"  # resource_already_exists
    assert emu.client().v1.coupons.retrieve("cp_new").amount_off == 1000

    url = gw.portal_url(
        seed.customer,
        return_url="https://merchant.example/account",
        flow="subscription_cancel",
        subscription_id=seed.subscription,
        idempotency_key="bp1",
    )
    assert url.startswith("https://billing.stripe.com/p/session/test_")
    (session,) = emu.portal_sessions
    assert session["flow"]["subscription_cancel"]["subscription"] == seed.subscription
    gw.portal_url(
        seed.customer,
        return_url="https://merchant.example/account",
        flow="payment_method_update",
        idempotency_key="bp2",
    )
    assert len(emu.portal_sessions) == 2

    invoice_id = emu.add_invoice(customer=seed.customer, subscription=seed.subscription)
    invoice = gw.read_invoice(invoice_id)
    assert (invoice.status, invoice.subscription, invoice.customer_email) == (
        "open",
        seed.subscription,
        "jenny@example.com",
    )
    assert invoice.preferred_locales == ("fr-FR", "en")
    paid = emu.client().v1.invoices.pay(invoice_id, {}, {"idempotency_key": "pay1"})
    assert paid.status == "paid"
    assert paid.amount_remaining == 0

    customer = gw.read_customer(seed.customer)
    assert customer.live_subscription == seed.subscription
    assert customer.email


def test_a_declined_invoice_payment_is_stored_and_replayed(emu: StripeEmulator, seed: Seed) -> None:
    assert seed.payment_method is not None
    emu.declining_payment_methods.add(seed.payment_method)
    invoice_id = emu.add_invoice(customer=seed.customer, subscription=seed.subscription)
    client = emu.client()
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            client.v1.invoices.pay(invoice_id, {}, {"idempotency_key": "pay-declined"})
    assert emu.invoice(invoice_id)["attempt_count"] == 2  # seeded 1, one real attempt
    assert [r.replayed for r in emu.requests] == [False, True]


def test_cards_on_file_pages_through_active_subscriptions(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    other = emu.seed_subscription(email="max@example.com")
    emu.seed_subscription(email="gone@example.com", status="canceled")
    nocard = emu.seed_subscription(email="nocard@example.com", with_card=False)
    cards = list(gateway().cards_on_file(page_size=1))
    assert {c.subscription for c in cards} == {seed.subscription, other.subscription}
    assert all(c.last4 == "4242" and c.exp_year == 2030 for c in cards)
    lists = emu.requests_to("GET", "/v1/subscriptions")
    assert len(lists) == 3  # three active subscriptions, one per page (the last has_more=false)
    assert nocard.subscription not in {c.subscription for c in cards}


def test_check_key_probes_permissions(emu: StripeEmulator) -> None:
    good = "rk_test_" + "a" * 24
    emu.denied[good] = {"coupons"}
    check = check_key(good, api_base=emu.url, http_client=emu.http_client())
    assert [p.name for p in check.missing] == ["coupons"]
    revoked = "sk_test_" + "b" * 24
    emu.rejected_keys.add(revoked)
    check = check_key(revoked, api_base=emu.url, http_client=emu.http_client())
    assert check.refusal is not None
    assert not check.usable


# --- idempotency ------------------------------------------------------------------------------


def test_a_stored_500_is_replayed_under_the_same_key(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    fault = emu.inject("500", method="POST")
    with pytest.raises(StripeUnavailable) as err:
        gateway(retries=2).undo_cancel(seed.subscription, idempotency_key="k500")
    assert err.value.http_status == 500
    assert fault.fired == 1
    assert [(r.status, r.replayed) for r in emu.requests] == [
        (500, False),
        (500, True),
        (500, True),
    ]
    assert emu.writes_applied(seed.subscription) == 0
    stored = emu.stored_result("k500")
    assert stored is not None
    assert stored[0] == 500
    assert stored[1]["error"]["type"] == "api_error"
    # The key stays burnt (a click an hour later still gets the 500) ...
    emu.advance(3600)
    status, _, headers = raw(
        emu,
        "POST",
        f"/v1/subscriptions/{seed.subscription}",
        {"cancel_at_period_end": "false", **{f"expand[{i}]": e for i, e in enumerate(EXPAND)}},
        key="k500",
    )
    assert status == 500
    assert headers["Idempotent-Replayed"] == "true"
    assert headers["Original-Request"] == emu.requests[0].request_id
    # ... and a new attempt under a new key goes through.
    gateway().cancel_at_period_end(
        seed.subscription, feedback=None, comment=None, idempotency_key="k500-attempt2"
    )
    assert emu.writes_applied(seed.subscription) == 1


def test_changed_parameters_under_an_old_key_are_refused(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    gw = gateway()
    gw.cancel_at_period_end(
        seed.subscription, feedback="too_expensive", comment=None, idempotency_key="k1"
    )
    with pytest.raises(StripeRejected) as err:
        gw.cancel_at_period_end(
            seed.subscription, feedback="unused", comment="changed", idempotency_key="k1"
        )
    assert (err.value.http_status, err.value.code) == (400, "idempotency_error")
    with pytest.raises(StripeRejected) as err:  # same key on another endpoint
        gw.cancel_now(seed.subscription, feedback=None, comment=None, idempotency_key="k1")
    assert err.value.code == "idempotency_error"
    assert (
        emu.subscription(seed.subscription)["cancellation_details"]["feedback"] == "too_expensive"
    )
    assert emu.subscription(seed.subscription)["status"] == "active"
    assert emu.writes_applied(seed.subscription) == 1


def test_keys_are_scoped_per_api_key_and_expire(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    other = "sk_test_otheraccount"
    gateway().undo_cancel(seed.subscription, idempotency_key="shared")
    gateway(api_key=other).undo_cancel(seed.subscription, idempotency_key="shared")
    assert emu.writes_applied(seed.subscription) == 2
    emu.advance(KEY_TTL)
    gateway().cancel_at_period_end(
        seed.subscription, feedback=None, comment=None, idempotency_key="shared"
    )
    assert emu.writes_applied(seed.subscription) == 3


def test_validation_errors_are_not_stored(emu: StripeEmulator, seed: Seed) -> None:
    path = f"/v1/subscriptions/{seed.subscription}"
    status, _, _ = raw(emu, "POST", path, {"pause_collection[behavior]": "sideways"}, key="v1")
    assert status == 400
    status, body, _ = raw(emu, "POST", path, {"pause_collection[behavior]": "void"}, key="v1")
    assert status == 200
    assert body["pause_collection"]["behavior"] == "void"


# --- faults -----------------------------------------------------------------------------------


def test_apply_then_drop_then_a_same_key_retry_replays_the_success(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    emu.inject("apply_then_drop", method="POST", path=r"/v1/subscriptions/.*")
    with pytest.raises(StripeUnavailable):
        gateway().cancel_at_period_end(
            seed.subscription, feedback="unused", comment=None, idempotency_key="atd"
        )
    assert emu.subscription(seed.subscription)["cancel_at_period_end"] is True  # applied
    assert emu.requests[0].outcome == "dropped"
    assert emu.requests[0].status == 200
    view = gateway().cancel_at_period_end(
        seed.subscription, feedback="unused", comment=None, idempotency_key="atd"
    )
    assert view.cancel_at_period_end
    assert emu.requests[-1].replayed
    assert emu.writes_applied(seed.subscription) == 1


def test_sdk_retries_ride_out_drops_with_one_write(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    emu.inject("apply_then_drop", method="DELETE", times=2)
    view = gateway(retries=2).cancel_now(
        seed.subscription, feedback=None, comment=None, idempotency_key="drop3"
    )
    assert view.status == "canceled"
    assert [(r.outcome, r.replayed) for r in emu.requests] == [
        ("dropped", False),
        ("dropped", True),
        ("answered", True),
    ]
    assert emu.writes_applied(seed.subscription) == 1


def test_nth_call_and_predicates_select_the_request(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    fault = emu.inject(
        "drop_before",
        nth=2,
        when=lambda r: r.param("cancel_at_period_end") == "true",
    )
    gw = gateway()
    gw.read_subscription(seed.subscription)  # does not match
    gw.cancel_at_period_end(seed.subscription, feedback=None, comment=None, idempotency_key="n1")
    gw.undo_cancel(seed.subscription, idempotency_key="n2")  # does not match
    with pytest.raises(StripeUnavailable):
        gw.cancel_at_period_end(
            seed.subscription, feedback=None, comment=None, idempotency_key="n3"
        )
    assert (fault.seen, fault.fired, fault.exhausted) == (2, 1, True)
    assert emu.subscription(seed.subscription)["cancel_at_period_end"] is False
    assert emu.writes_applied(seed.subscription) == 2


def test_timeout_applies_and_answers_too_late(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    emu.inject("timeout", method="POST", delay=5.0)
    started = time.monotonic()
    with pytest.raises(StripeUnavailable):
        gateway(timeout=0.2).pause(
            seed.subscription, resumes_at=2_000_000_000, behavior="void", idempotency_key="to"
        )
    assert time.monotonic() - started < 2  # the emulator lets go as soon as the client does
    assert emu.subscription(seed.subscription)["pause_collection"] is not None
    view = gateway().pause(
        seed.subscription, resumes_at=2_000_000_000, behavior="void", idempotency_key="to"
    )
    assert view.paused
    assert emu.requests[-1].replayed
    assert emu.writes_applied(seed.subscription) == 1


def test_timeout_holding_the_key_makes_a_concurrent_retry_409(
    emu: StripeEmulator, seed: Seed
) -> None:
    emu.inject("timeout", method="POST", delay=0.4, hold_key=True)
    path = f"/v1/subscriptions/{seed.subscription}"
    results: list[int] = []

    def slow() -> None:
        results.append(raw(emu, "POST", path, {"cancel_at_period_end": "true"}, key="held")[0])

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 2
    while not emu.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    status, body, headers = raw(emu, "POST", path, {"cancel_at_period_end": "true"}, key="held")
    thread.join()
    assert (status, body["error"]["code"]) == (409, "idempotency_key_in_use")
    assert headers["Stripe-Should-Retry"] == "true"
    assert results == [200]  # the held request answered late, after the delay
    assert emu.requests[0].outcome == "late"
    status, _, headers = raw(emu, "POST", path, {"cancel_at_period_end": "true"}, key="held")
    assert status == 200
    assert headers["Idempotent-Replayed"] == "true"
    assert emu.writes_applied(seed.subscription) == 1


def test_409_is_not_stored_and_the_sdk_retries_it(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory
) -> None:
    emu.inject("409", method="POST", code="lock_timeout")
    with pytest.raises(StripeUnavailable) as err:
        gateway().undo_cancel(seed.subscription, idempotency_key="c409")
    assert err.value.http_status == 409
    assert emu.writes_applied(seed.subscription) == 0
    assert emu.stored_result("c409") is None
    gateway().undo_cancel(seed.subscription, idempotency_key="c409")
    assert not emu.requests[-1].replayed
    assert emu.writes_applied(seed.subscription) == 1

    emu.inject("409", method="POST")
    gateway(retries=1).undo_cancel(seed.subscription, idempotency_key="c409-b")
    assert [r.status for r in emu.requests[-2:]] == [409, 200]
    assert emu.writes_applied(seed.subscription) == 2


@pytest.mark.parametrize(("advice", "requests_made"), [(None, 1), (False, 1), (True, 2)])
def test_429_with_and_without_stripe_should_retry(
    emu: StripeEmulator,
    seed: Seed,
    gateway: GatewayFactory,
    advice: bool | None,
    requests_made: int,
) -> None:
    emu.inject("429", method="POST", should_retry=advice)
    gw = gateway(retries=2)
    if advice:
        assert gw.undo_cancel(seed.subscription, idempotency_key="r429").status == "active"
    else:
        with pytest.raises(StripeUnavailable) as err:
            gw.undo_cancel(seed.subscription, idempotency_key="r429")
        assert err.value.http_status == 429
    assert len(emu.requests) == requests_made
    header = emu.requests[0]
    assert header.status == 429
    assert header.fault == "429"
    assert emu.writes_applied(seed.subscription) == (1 if advice else 0)


@pytest.mark.parametrize("kind", ["apply_then_drop", "drop_before", "timeout", "409", "429", "500"])
def test_every_fault_then_a_same_key_retry(
    emu: StripeEmulator, seed: Seed, gateway: GatewayFactory, kind: FaultKind
) -> None:
    """One click faulted, then the same request retried under the same key, as the issue asks."""
    emu.inject(kind, method="POST", delay=2.0)
    gw = gateway(timeout=0.3)

    def click() -> bool:
        view = gw.cancel_at_period_end(
            seed.subscription, feedback="unused", comment=None, idempotency_key="same"
        )
        return view.cancel_at_period_end

    with pytest.raises(StripeUnavailable):
        click()
    applied_by_fault = {"apply_then_drop": 1, "timeout": 1}.get(kind, 0)
    assert emu.writes_applied(seed.subscription) == applied_by_fault
    if kind == "500":
        with pytest.raises(StripeUnavailable):  # the stored 500 comes back
            click()
        assert emu.requests[-1].replayed
        assert emu.subscription(seed.subscription)["cancel_at_period_end"] is False
        assert emu.writes_applied(seed.subscription) == 0
        return
    assert click() is True
    assert emu.requests[-1].replayed is bool(applied_by_fault)
    assert emu.subscription(seed.subscription)["cancel_at_period_end"] is True
    assert emu.writes_applied(seed.subscription) == 1
