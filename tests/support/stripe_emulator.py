"""A Stripe emulator for tests: a real HTTP server on 127.0.0.1 that speaks Stripe's v1 wire format,
keeps objects in memory, behaves like Stripe's idempotency layer and injects faults on request.

Standalone on purpose (stdlib and stripe only; nothing from cancelpage or other test modules), so
it survives any reorganisation of the package.

    with StripeEmulator() as emu:
        seed = emu.seed_subscription(email="jenny@example.com")
        emu.inject("apply_then_drop", method="POST", path=f"/v1/subscriptions/{seed.subscription}")
        client = emu.client(max_network_retries=2)      # a stripe.StripeClient pointed at emu.url
        ...
        assert emu.subscription(seed.subscription)["cancel_at_period_end"] is True
        assert emu.writes_applied(seed.subscription) == 1

What it emulates (and what the tests may rely on):

* Wire format: form-encoded parameters with nested keys (``a[b][0][c]=v``, ``expand[0]=x``,
  ``expand[]=x``) in the body (POST) or the query string (GET, DELETE); JSON answers carrying
  ``object``; errors shaped ``{"error": {"type", "code", "message", "param", ...}}``; ``Request-Id``
  on every answer; unknown parameters are refused (``parameter_unknown``) so a wrong wire format
  fails loudly instead of silently doing nothing.
* Idempotency, as Stripe documents it: for the methods in ``idempotent_methods`` (POST and DELETE
  by default) with an ``Idempotency-Key``, the first result is stored per (API key, idempotency
  key) for 24 hours *including 500s* and replayed for an identical request with
  ``Idempotent-Replayed: true`` and ``Original-Request``; the same key with another method, path or
  parameters gets ``400 idempotency_error``. A request whose parameters fail validation stores
  nothing (Stripe: "no API endpoint began execution"); neither do 409 and 429 answers. A second
  request while the first with that key is still executing gets ``409 idempotency_key_in_use``.
  (Stripe's docs say keys have no effect on v1 DELETE; pass ``idempotent_methods=("POST",)`` to
  emulate that instead.)
* Lists page like Stripe's: newest first, ``limit`` 1..100, ``starting_after`` /
  ``ending_before`` cursors and ``has_more``. Subscriptions and invoices also take the filters
  the revenue scan uses (``status``, ``created[gt|gte|lt|lte]``, ``collection_method``) and page
  from an index, so a list of 100,000 objects costs one page's work per request.
* Faults (``inject``): ``apply_then_drop``, ``drop_before``, ``timeout``, ``409``, ``429``,
  ``500`` on the Nth matching request, selected by method, path regex and/or a predicate.
* Records: every request received (``requests``), every write applied (``applied``,
  ``writes_applied(object_id)``), and the current objects (``subscription(id)``, ``customer(id)``,
  ``coupon(id)``, ``invoice(id)``, ``portal_sessions``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import itertools
import json
import re
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlsplit

import stripe

__all__ = [
    "API_VERSION",
    "FAULT_KINDS",
    "KEY_TTL",
    "AppliedWrite",
    "Fault",
    "FaultKind",
    "NoBackoffRequestsClient",
    "Received",
    "Seed",
    "StripeEmulator",
    "decode_form",
]

API_VERSION = "2026-10-28.endive"
KEY_TTL = 24 * 3600  # Stripe keeps idempotent results for at least 24 hours
MAX_KEY_LENGTH = 255

FaultKind = Literal["apply_then_drop", "drop_before", "timeout", "409", "429", "500"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "apply_then_drop",
    "drop_before",
    "timeout",
    "409",
    "429",
    "500",
)
Outcome = Literal["pending", "answered", "dropped", "late"]

FEEDBACK = frozenset(
    {
        "customer_service",
        "low_quality",
        "missing_features",
        "other",
        "switched_service",
        "too_complex",
        "too_expensive",
        "unused",
    }
)
PAUSE_BEHAVIORS = frozenset({"void", "keep_as_draft", "mark_uncollectible"})
PRORATION_BEHAVIORS = frozenset({"create_prorations", "none", "always_invoice"})
COUPON_DURATIONS = frozenset({"once", "repeating", "forever"})
PORTAL_FLOWS = frozenset(
    {
        "payment_method_update",
        "subscription_cancel",
        "subscription_update",
        "subscription_update_confirm",
    }
)
SUBSCRIPTION_STATUSES = frozenset(
    {
        "active",
        "past_due",
        "unpaid",
        "canceled",
        "incomplete",
        "incomplete_expired",
        "trialing",
        "paused",
    }
)
INVOICE_STATUSES = frozenset({"draft", "open", "paid", "uncollectible", "void"})
_INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


# --- form decoding ----------------------------------------------------------------------------


class FormError(ValueError):
    """A form body whose keys cannot be read as Stripe's nested parameters."""


_SUBKEY = re.compile(r"\[([^\[\]]*)\]")


def _key_parts(raw: str) -> list[str]:
    head, bracket, rest = raw.partition("[")
    if not head:
        raise FormError(f"Invalid parameter name: {raw!r}")
    if not bracket:
        return [head]
    rest = "[" + rest
    parts = _SUBKEY.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest:
        raise FormError(f"Invalid parameter name: {raw!r}")
    return [head, *parts]


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {k: _listify(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return value


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rebuild nested parameters from form pairs: ``a[b][0][c]=v`` -> ``{"a": {"b": [{"c": v}]}}``.

    An empty pair of brackets appends (``expand[]=x``); a plain ``a=""`` stays the empty string
    (Stripe's way of clearing a field). Conflicting keys raise FormError.
    """
    root: dict[str, Any] = {}
    for raw, value in pairs:
        parts = _key_parts(raw)
        node = root
        for depth, part in enumerate(parts):
            if part == "":
                part = str(len(node))
            if depth == len(parts) - 1:
                if part in node:
                    raise FormError(f"Parameter given twice: {raw!r}")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise FormError(f"Parameter {raw!r} conflicts with a scalar value")
                node = child
    return cast(dict[str, Any], _listify(root))


# --- records ----------------------------------------------------------------------------------


@dataclass
class Received:
    """One request as the emulator received it, and what became of it."""

    method: str  # upper case
    path: str
    params: dict[str, Any]  # decoded, nested
    form: list[tuple[str, str]]  # raw pairs, query then body
    idempotency_key: str | None
    api_key: str | None
    stripe_version: str | None
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)  # all but Authorization
    status: int | None = None  # the status answered (or that would have been, when dropped)
    # answered; dropped (connection closed, no answer); late (timeout fault: answered after the
    # delay, or dropped because the client had given up)
    outcome: Outcome = "pending"
    replayed: bool = False
    applied: bool = False  # the write executed (not a replay, not a fault before execution)
    fault: FaultKind | None = None

    def param(self, dotted: str) -> Any:
        """A nested parameter by dotted path, e.g. ``"cancellation_details.feedback"``."""
        node: Any = self.params
        for part in dotted.split("."):
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node


@dataclass(frozen=True)
class AppliedWrite:
    """A write the emulator executed (its effect is in the object store)."""

    method: str
    path: str
    object_id: str
    params: dict[str, Any]
    idempotency_key: str | None
    request_id: str


@dataclass
class Fault:
    """A scripted fault: fires on matching requests number ``nth`` .. ``nth + times - 1``.

    ``method`` (case-insensitive) and ``path`` (a regex matched against the whole path) narrow
    the requests that count; ``when`` is any further predicate on the Received request.
    ``should_retry`` sets ``Stripe-Should-Retry`` ("true"/"false"; None leaves it out; 409
    defaults to "true" as Stripe sends it). ``code`` overrides the error code (409:
    ``idempotency_key_in_use`` or ``lock_timeout``; 429: ``rate_limit`` or ``lock_timeout``).
    ``delay`` bounds how long ``timeout`` holds its answer; the wait ends as soon as the client
    gives up, so a short client timeout keeps tests fast. With ``hold_key`` a ``timeout`` keeps the
    idempotency key in use during the delay (a same-key retry gets 409) and stores the result
    only when the delay is over; otherwise the result is stored at once, as when Stripe finished
    and the network was slow.

    Where each kind acts: ``drop_before``, ``409`` and ``429`` answer before authentication and
    the idempotency layer (nothing is applied or stored). ``500`` replaces the endpoint: a request
    that the idempotency layer answers itself (a replay, a mismatch, a key in use) is answered as
    usual and the fault is spent. ``apply_then_drop`` and ``timeout`` run the whole pipeline
    (replays included) and then withhold the answer.
    """

    kind: FaultKind
    method: str | None = None
    path: str | None = None
    when: Callable[[Received], bool] | None = None
    nth: int = 1
    times: int = 1
    should_retry: bool | None = None
    code: str | None = None
    delay: float = 5.0
    hold_key: bool = False
    seen: int = 0  # matching requests so far
    fired: int = 0  # how often this fault was applied

    def matches(self, req: Received) -> bool:
        if self.method is not None and self.method.upper() != req.method:
            return False
        if self.path is not None and re.fullmatch(self.path, req.path) is None:
            return False
        return self.when is None or bool(self.when(req))

    @property
    def exhausted(self) -> bool:
        return self.fired >= self.times


@dataclass(frozen=True)
class Seed:
    """Ids of the objects made by ``StripeEmulator.seed_subscription``."""

    customer: str
    product: str
    price: str
    subscription: str
    item: str
    payment_method: str | None


@dataclass
class _Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stored: bool = True  # may be stored under an idempotency key


@dataclass
class _StoredResult:
    signature: tuple[str, str, str]  # method, path, canonical params
    answer: _Answer
    request_id: str
    created: float


class _Failure(Exception):
    """An error answer; ``stored`` is False for validation errors (Stripe saves none for them)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        stored: bool = False,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.stored = stored
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def answer(self, request_id: str) -> _Answer:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error.update(self.extra)
        return _Answer(self.status, {"error": error}, self.headers, stored=self.stored)


def _missing(kind: str, object_id: str, param: str = "id") -> _Failure:
    return _Failure(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def _invalid(message: str, param: str | None = None, code: str = "parameter_invalid") -> _Failure:
    return _Failure(400, message, code=code, param=param)


def _unknown(params: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    extra = sorted(set(params) - set(allowed))
    if extra:
        name = f"{prefix}[{extra[0]}]" if prefix else extra[0]
        raise _invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")


def _bool(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return bool(value == "true")
    raise _invalid(f"Invalid boolean: {value}", param)


def _int(value: Any, param: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,15}", value):
        return int(value)
    raise _invalid(f"Invalid integer: {value}", param)


def _str(value: Any, param: str) -> str:
    if isinstance(value, str):
        return value
    raise _invalid(f"Invalid string: {value!r}", param)


def _dict(value: Any, param: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise _invalid(f"Invalid object: {param} must be a hash", param)


def _array(value: Any, param: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise _invalid(f"Invalid array: {param} must be an array", param)


def _canonical(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


# --- HTTP plumbing ----------------------------------------------------------------------------


class NoBackoffRequestsClient(stripe.RequestsClient):
    """stripe-python's requests-based client without retry back-off (at least 0.5 s otherwise),
    so retry scenarios stay fast. Close it when done (``close()``) to release its sockets."""

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined by server_close()
    block_on_close = True

    def __init__(self, emulator: StripeEmulator) -> None:
        self.emulator = emulator
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.emulator._track(request, True)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.emulator._track(request, False)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.emulator._handle(self)

    def do_POST(self) -> None:
        self.server.emulator._handle(self)

    def do_DELETE(self) -> None:
        self.server.emulator._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator keeps its own log (``StripeEmulator.requests``)."""


# --- the emulator -----------------------------------------------------------------------------

_Route = tuple[str, re.Pattern[str], str]
_ROUTES: tuple[_Route, ...] = tuple(
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("GET", r"/v1/subscriptions", "list_subscriptions"),
        ("POST", r"/v1/subscriptions", "create_subscription"),
        ("GET", r"/v1/subscriptions/([^/]+)", "retrieve_subscription"),
        ("POST", r"/v1/subscriptions/([^/]+)", "update_subscription"),
        ("DELETE", r"/v1/subscriptions/([^/]+)", "cancel_subscription"),
        ("GET", r"/v1/customers", "list_customers"),
        ("POST", r"/v1/customers", "create_customer"),
        ("GET", r"/v1/customers/([^/]+)", "retrieve_customer"),
        ("POST", r"/v1/customers/([^/]+)", "update_customer"),
        ("GET", r"/v1/coupons", "list_coupons"),
        ("POST", r"/v1/coupons", "create_coupon"),
        ("GET", r"/v1/coupons/([^/]+)", "retrieve_coupon"),
        ("GET", r"/v1/prices", "list_prices"),
        ("GET", r"/v1/prices/([^/]+)", "retrieve_price"),
        ("GET", r"/v1/products", "list_products"),
        ("GET", r"/v1/products/([^/]+)", "retrieve_product"),
        ("GET", r"/v1/payment_methods/([^/]+)", "retrieve_payment_method"),
        ("GET", r"/v1/invoices", "list_invoices"),
        ("GET", r"/v1/invoices/([^/]+)", "retrieve_invoice"),
        ("POST", r"/v1/invoices/([^/]+)/pay", "pay_invoice"),
        ("POST", r"/v1/billing_portal/sessions", "create_portal_session"),
        ("GET", r"/v1/billing_portal/configurations", "list_portal_configurations"),
    )
)

# Which store an id belongs to, by Stripe's prefixes (coupons have free-form ids: looked up last).
_PREFIXES = (
    ("cus_", "customer"),
    ("sub_", "subscription"),
    ("si_", "subscription_item"),
    ("price_", "price"),
    ("prod_", "product"),
    ("pm_", "payment_method"),
    ("in_", "invoice"),
    ("di_", "discount"),
    ("bps_", "billing_portal.session"),
)


class StripeEmulator:
    """A Stripe-compatible HTTP server on 127.0.0.1 with Stripe's idempotency layer and faults.

    Use as a context manager (or ``start()``/``stop()``). All state is in memory and guarded by
    one lock; the clock is ``time.time()`` unless ``now`` is given (then ``advance()`` moves it).
    """

    def __init__(
        self,
        *,
        now: int | None = None,
        idempotent_methods: Iterable[str] = ("POST", "DELETE"),
        portal_base: str = "https://billing.stripe.com/p/session",
    ) -> None:
        self._lock = threading.RLock()
        self._fixed_now = now
        self._offset = 0
        self.idempotent_methods = frozenset(m.upper() for m in idempotent_methods)
        self.portal_base = portal_base
        self._ids = itertools.count(1)
        # object stores (unexpanded, as Stripe keeps them)
        self.customers: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.coupons: dict[str, dict[str, Any]] = {}
        self.discounts: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.portal_sessions: list[dict[str, Any]] = []
        self._indexes: dict[int, tuple[list[str], dict[str, int]]] = {}  # list paging
        # idempotency layer
        self._keys: dict[tuple[str, str], _StoredResult] = {}
        self._in_flight: set[tuple[str, str]] = set()
        # faults, logs, counters
        self.faults: list[Fault] = []
        self._requests: list[Received] = []
        self._applied: list[AppliedWrite] = []
        self.rejected_keys: set[str] = set()  # API keys answered with 401
        self.denied: dict[str, set[str]] = {}  # API key -> resources answered with 403
        self.declining_payment_methods: set[str] = set()  # invoice payments fail (402)
        # server
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._clients: list[NoBackoffRequestsClient] = []

    # lifecycle

    def start(self) -> StripeEmulator:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits up to one interval
            name="stripe-emulator",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.close_clients()
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:  # wake keep-alive handlers blocked on a read
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> StripeEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def client(
        self,
        api_key: str = "sk_test_emulator",
        *,
        max_network_retries: int = 0,
        timeout: float = 2.0,
    ) -> stripe.StripeClient:
        """A StripeClient on this emulator, without retry back-off. Its HTTP client is closed by
        ``stop()`` (or ``close_clients()``); use ``http_client()`` to own one instead."""
        http = self.http_client(timeout=timeout)
        return stripe.StripeClient(
            api_key,
            stripe_version=API_VERSION,
            max_network_retries=max_network_retries,
            http_client=http,
            base_addresses={"api": self.url},
        )

    def http_client(self, *, timeout: float = 2.0) -> NoBackoffRequestsClient:
        """An HTTP client for stripe-python (e.g. ``Gateway.for_key(..., http_client=...)``),
        closed by ``stop()``. Close it yourself if it is used from another thread (its session
        is per thread)."""
        http = NoBackoffRequestsClient(timeout=timeout)
        self._clients.append(http)
        return http

    def close_clients(self) -> None:
        """Close the HTTP clients made by ``client()`` (their pooled sockets)."""
        while self._clients:
            http: Any = self._clients.pop()
            http.close()  # untyped in stripe-python

    # clock

    def now(self) -> int:
        base = self._fixed_now if self._fixed_now is not None else int(time.time())
        return base + self._offset

    def advance(self, seconds: int) -> None:
        """Move the emulator's clock (idempotency keys expire after 24 hours)."""
        with self._lock:
            self._offset += seconds

    # scripting faults

    def inject(
        self,
        kind: FaultKind,
        *,
        method: str | None = None,
        path: str | None = None,
        when: Callable[[Received], bool] | None = None,
        nth: int = 1,
        times: int = 1,
        should_retry: bool | None = None,
        code: str | None = None,
        delay: float = 5.0,
        hold_key: bool = False,
    ) -> Fault:
        """Script a fault; see Fault. Returns it (its ``seen`` and ``fired`` count up)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if nth < 1 or times < 1:
            raise ValueError("nth and times start at 1")
        fault = Fault(
            kind,
            method=method,
            path=path,
            when=when,
            nth=nth,
            times=times,
            should_retry=should_retry,
            code=code,
            delay=delay,
            hold_key=hold_key,
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    # reading what happened

    @property
    def requests(self) -> list[Received]:
        """Every request received, in order (a copy of the list)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str | None = None, path: str | None = None) -> list[Received]:
        """Requests filtered by method and a path regex (whole-path match)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or re.fullmatch(path, r.path) is not None)
        ]

    @property
    def applied(self) -> list[AppliedWrite]:
        """Every write executed (replays and faulted requests excluded), in order."""
        with self._lock:
            return list(self._applied)

    def writes_applied(self, object_id: str | None = None) -> int:
        """How many writes were applied to this object (all writes when None)."""
        with self._lock:
            return sum(1 for w in self._applied if object_id is None or w.object_id == object_id)

    def stored_result(self, idempotency_key: str, api_key: str = "sk_test_emulator") -> Any:
        """(status, body) stored under a key, or None."""
        with self._lock:
            stored = self._keys.get((api_key, idempotency_key))
            return None if stored is None else (stored.answer.status, stored.answer.body)

    def subscription(self, subscription_id: str, *expand: str) -> dict[str, Any]:
        """The subscription as Stripe would answer a retrieve now (expanded as asked)."""
        with self._lock:
            return self._expand(self._render(self._subscription(subscription_id)), expand)

    def customer(self, customer_id: str, *expand: str) -> dict[str, Any]:
        with self._lock:
            return self._expand(self._render(self._customer(customer_id)), expand)

    def coupon(self, coupon_id: str) -> dict[str, Any]:
        with self._lock:
            if coupon_id not in self.coupons:
                raise KeyError(coupon_id)
            return copy.deepcopy(self.coupons[coupon_id])

    def invoice(self, invoice_id: str, *expand: str) -> dict[str, Any]:
        with self._lock:
            if invoice_id not in self.invoices:
                raise KeyError(invoice_id)
            return self._expand(self._render(self.invoices[invoice_id]), expand)

    def discount_coupons(self, subscription_id: str) -> list[str]:
        """The coupon ids behind a subscription's discounts, in order."""
        with self._lock:
            sub = self._subscription(subscription_id)
            return [self.discounts[d]["source"]["coupon"] for d in sub["discounts"]]

    # seeding (no HTTP, no request log)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_emu{next(self._ids):06d}{secrets.token_hex(4)}"

    def add_customer(
        self,
        *,
        id: str | None = None,
        email: str | None = "jenny@example.com",
        name: str | None = "Jenny Rosen",
        preferred_locales: Iterable[str] = ("en",),
        default_payment_method: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        with self._lock:
            customer_id = id or self._new_id("cus")
            self.customers[customer_id] = {
                "id": customer_id,
                "object": "customer",
                "balance": 0,
                "created": self.now(),
                "currency": None,
                "default_source": None,
                "delinquent": False,
                "description": None,
                "email": email,
                "invoice_settings": {
                    "custom_fields": None,
                    "default_payment_method": default_payment_method,
                    "footer": None,
                    "rendering_options": None,
                },
                "livemode": False,
                "metadata": dict(metadata or {}),
                "name": name,
                "preferred_locales": list(preferred_locales),
            }
            return customer_id

    def add_product(self, *, id: str | None = None, name: str = "Pro plan") -> str:
        with self._lock:
            product_id = id or self._new_id("prod")
            self.products[product_id] = {
                "id": product_id,
                "object": "product",
                "active": True,
                "created": self.now(),
                "description": None,
                "livemode": False,
                "metadata": {},
                "name": name,
            }
            return product_id

    def add_price(
        self,
        *,
        id: str | None = None,
        product: str | None = None,
        unit_amount: int = 2900,
        currency: str = "eur",
        interval: str = "month",
        interval_count: int = 1,
        nickname: str | None = None,
    ) -> str:
        with self._lock:
            product_id = product or self.add_product()
            price_id = id or self._new_id("price")
            self.prices[price_id] = {
                "id": price_id,
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": self.now(),
                "currency": currency,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": nickname,
                "product": product_id,
                "recurring": {
                    "interval": interval,
                    "interval_count": interval_count,
                    "meter": None,
                    "trial_period_days": None,
                    "usage_type": "licensed",
                },
                "type": "recurring",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            }
            return price_id

    def add_payment_method(
        self,
        *,
        id: str | None = None,
        customer: str | None = None,
        brand: str = "visa",
        last4: str = "4242",
        exp_month: int = 8,
        exp_year: int = 2030,
    ) -> str:
        with self._lock:
            pm_id = id or self._new_id("pm")
            self.payment_methods[pm_id] = {
                "id": pm_id,
                "object": "payment_method",
                "type": "card",
                "card": {
                    "brand": brand,
                    "country": "US",
                    "display_brand": brand,
                    "exp_month": exp_month,
                    "exp_year": exp_year,
                    "funding": "credit",
                    "last4": last4,
                },
                "created": self.now(),
                "customer": customer,
                "livemode": False,
                "metadata": {},
            }
            return pm_id

    def add_coupon(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        percent_off: float | None = 20.0,
        amount_off: int | None = None,
        currency: str | None = None,
        duration: str = "once",
        duration_in_months: int | None = None,
    ) -> str:
        with self._lock:
            coupon_id = id or secrets.token_hex(4).upper()
            self.coupons[coupon_id] = self._coupon_object(
                coupon_id, name, percent_off, amount_off, currency, duration, duration_in_months
            )
            return coupon_id

    def add_subscription(
        self,
        *,
        customer: str,
        price: str,
        id: str | None = None,
        item_id: str | None = None,
        status: str = "active",
        quantity: int = 1,
        current_period_end: int | None = None,
        default_payment_method: str | None = None,
        trial_end: int | None = None,
        cancel_at_period_end: bool = False,
        coupons: Iterable[str] = (),
        created: int | None = None,
        ended_at: int | None = None,
        cancellation_reason: str | None = None,
        extra_items: Iterable[tuple[str, int]] = (),
    ) -> str:
        """A subscription; ``ended_at`` makes it a canceled one (with ``cancellation_reason``,
        e.g. ``payment_failed``), ``extra_items`` adds (price, quantity) items."""
        with self._lock:
            if customer not in self.customers or price not in self.prices:
                raise KeyError("add the customer and the price first")
            now = self.now()
            sub_id = id or self._new_id("sub")
            interval = self._interval_seconds(price)
            end = current_period_end or (trial_end if trial_end else now + interval)
            item = {
                "id": item_id or self._new_id("si"),
                "object": "subscription_item",
                "created": now,
                "current_period_start": end - interval,
                "current_period_end": end,
                "discounts": [],
                "metadata": {},
                "price": price,  # rendered as the price object
                "quantity": quantity,
                "subscription": sub_id,
                "tax_rates": [],
            }
            items = [item]
            for extra_price, extra_quantity in extra_items:
                items.append(
                    {
                        **copy.deepcopy(item),
                        "id": self._new_id("si"),
                        "price": extra_price,
                        "quantity": extra_quantity,
                    }
                )
            sub: dict[str, Any] = {
                "id": sub_id,
                "object": "subscription",
                "billing_cycle_anchor": end,
                "cancel_at": end if cancel_at_period_end else None,
                "cancel_at_period_end": cancel_at_period_end,
                "canceled_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "collection_method": "charge_automatically",
                "created": now - 90 * 86400,
                "currency": self.prices[price]["currency"],
                "customer": customer,
                "default_payment_method": default_payment_method,
                "discounts": [],
                "ended_at": None,
                "items": {
                    "object": "list",
                    "data": items,
                    "has_more": False,
                    "total_count": len(items),
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": {},
                "pause_collection": None,
                "status": "trialing" if trial_end and trial_end > now else status,
                "trial_end": trial_end,
                "trial_start": now if trial_end else None,
            }
            if created is not None:
                sub["created"] = created
            if ended_at is not None:
                sub.update(status="canceled", canceled_at=ended_at, ended_at=ended_at)
                sub.update(cancel_at=None, cancel_at_period_end=False)
                sub["cancellation_details"]["reason"] = cancellation_reason
            for coupon_id in coupons:
                sub["discounts"].append(self._new_discount(coupon_id, sub))
            self.subscriptions[sub_id] = sub
            return sub_id

    def add_invoice(
        self,
        *,
        customer: str,
        subscription: str | None = None,
        id: str | None = None,
        amount_due: int = 2900,
        currency: str = "eur",
        status: str = "open",
        attempt_count: int = 1,
        created: int | None = None,
        collection_method: str = "charge_automatically",
    ) -> str:
        with self._lock:
            invoice_id = id or self._new_id("in")
            at = self.now() if created is None else created
            email = self.customers.get(customer, {}).get("email")
            self.invoices[invoice_id] = {
                "id": invoice_id,
                "object": "invoice",
                "amount_due": amount_due,
                "amount_paid": amount_due if status == "paid" else 0,
                "amount_remaining": 0 if status == "paid" else amount_due,
                "attempt_count": attempt_count,
                "attempted": attempt_count > 0,
                "billing_reason": "subscription_cycle",
                "collection_method": collection_method,
                "created": at,
                "currency": currency,
                "customer": customer,
                "customer_email": email,
                "discounts": [],
                "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_emu/{invoice_id}",
                "livemode": False,
                "parent": {
                    "type": "subscription_details",
                    "quote_details": None,
                    "subscription_details": {"metadata": {}, "subscription": subscription},
                }
                if subscription
                else None,
                "status": status,
                "status_transitions": {
                    "finalized_at": at,
                    "paid_at": at if status == "paid" else None,
                    "voided_at": at if status == "void" else None,
                },
                "total": amount_due,
            }
            return invoice_id

    def seed_subscription(
        self,
        *,
        email: str | None = "jenny@example.com",
        preferred_locales: Iterable[str] = ("en",),
        product_name: str = "Pro plan",
        unit_amount: int = 2900,
        currency: str = "eur",
        interval: str = "month",
        with_card: bool = True,
        **subscription: Any,
    ) -> Seed:
        """A customer (with a default card), a product, a price and an active subscription."""
        with self._lock:
            customer = self.add_customer(email=email, preferred_locales=preferred_locales)
            pm = self.add_payment_method(customer=customer) if with_card else None
            self.customers[customer]["invoice_settings"]["default_payment_method"] = pm
            product = self.add_product(name=product_name)
            price = self.add_price(
                product=product, unit_amount=unit_amount, currency=currency, interval=interval
            )
            sub_id = self.add_subscription(customer=customer, price=price, **subscription)
            item = self.subscriptions[sub_id]["items"]["data"][0]["id"]
            return Seed(customer, product, price, sub_id, item, pm)

    # --- request handling (server threads) ---------------------------------------------------

    def _track(self, conn: Any, add: bool) -> None:
        if not isinstance(conn, socket.socket):
            return
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        request_id = f"req_emu{secrets.token_hex(7)}"
        try:
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = handler.rfile.read(length) if length > 0 else b""
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "authorization"}
        req = Received(
            method=handler.command.upper(),
            path=parts.path,
            params={},
            form=[],
            idempotency_key=handler.headers.get("Idempotency-Key"),
            api_key=_api_key(handler.headers.get("Authorization")),
            stripe_version=handler.headers.get("Stripe-Version"),
            request_id=request_id,
            headers=headers,
        )
        decode_error: _Failure | None = None
        try:
            text = body.decode("utf-8")
            req.form = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(
                text, keep_blank_values=True
            )
            req.params = decode_form(req.form)
        except (UnicodeDecodeError, FormError) as err:
            decode_error = _invalid(str(err))
        with self._lock:
            self._requests.append(req)
            fault = self._pick_fault(req)
        req.fault = fault.kind if fault else None

        if fault is not None and fault.kind == "drop_before":
            req.outcome = "dropped"
            self._drop(handler)
            return
        if fault is not None and fault.kind in ("409", "429"):
            self._send(handler, req, self._fault_answer(fault, request_id))
            return

        hold = fault is not None and fault.kind == "timeout" and fault.hold_key
        answer, scope = self._process(req, fault, decode_error, hold=hold)
        req.status = answer.status

        if fault is not None and fault.kind == "apply_then_drop":
            req.outcome = "dropped"
            self._drop(handler)
            return
        if fault is not None and fault.kind == "timeout":
            gone = self._wait_for_client(handler, fault.delay)
            if hold and scope is not None:
                with self._lock:
                    self._store(scope, req, answer)
                    self._in_flight.discard(scope)
            if gone:
                req.outcome = "late"
                self._drop(handler)
                return
            self._send(handler, req, answer, outcome="late")
            return
        self._send(handler, req, answer)

    def _pick_fault(self, req: Received) -> Fault | None:
        chosen: Fault | None = None
        for fault in self.faults:
            if fault.exhausted or not fault.matches(req):
                continue
            fault.seen += 1
            if chosen is None and fault.seen >= fault.nth:
                fault.fired += 1
                chosen = fault
        return chosen

    def _fault_answer(self, fault: Fault, request_id: str) -> _Answer:
        headers: dict[str, str] = {}
        if fault.kind == "409":
            code = fault.code or "idempotency_key_in_use"
            message = (
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still going "
                "through). Please try again later."
                if code == "idempotency_key_in_use"
                else "This object cannot be accessed right now because another API request or "
                "Stripe process is currently accessing it. Please retry your request."
            )
            retry = True if fault.should_retry is None else fault.should_retry
            headers["Stripe-Should-Retry"] = "true" if retry else "false"
            failure = _Failure(409, message, code=code, headers=headers)
        else:
            code = fault.code or "rate_limit"
            if fault.should_retry is not None:
                headers["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
            failure = _Failure(
                429,
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://docs.stripe.com/rate-limits.",
                code=code,
                headers=headers,
            )
        return failure.answer(request_id)

    def _process(
        self,
        req: Received,
        fault: Fault | None,
        decode_error: _Failure | None,
        *,
        hold: bool,
    ) -> tuple[_Answer, tuple[str, str] | None]:
        """Auth, then the idempotency layer, then the endpoint. Returns the answer and, when the
        key is held (``hold``), its scope, for the caller to store and release."""
        with self._lock:
            try:
                self._authenticate(req)
                if decode_error is not None:
                    raise decode_error
                scope = self._idempotency_scope(req)
            except _Failure as failure:
                return failure.answer(req.request_id), None
            if scope is not None:
                stored = self._keys.get(scope)
                if stored is not None:
                    if stored.signature != self._signature(req):
                        return self._mismatch(req, stored).answer(req.request_id), None
                    req.replayed = True
                    replay = copy.deepcopy(stored.answer)
                    replay.headers.update(
                        {"Idempotent-Replayed": "true", "Original-Request": stored.request_id}
                    )
                    return replay, None
                if scope in self._in_flight:
                    busy = _Failure(
                        409,
                        "There is currently another in-progress request using this Idempotent "
                        "Key (that probably means you submitted twice, and the other request is "
                        "still going through). Please try again later.",
                        code="idempotency_key_in_use",
                        headers={"Stripe-Should-Retry": "true"},
                    )
                    return busy.answer(req.request_id), None
                self._in_flight.add(scope)
            try:
                if fault is not None and fault.kind == "500":
                    headers: dict[str, str] = {}
                    if fault.should_retry is not None:
                        headers["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
                    answer = _Failure(
                        500,
                        "Sorry, something went wrong. We've already been notified of the problem, "
                        "but if you need any help, you can reach us at support.stripe.com/contact.",
                        type_="api_error",
                        stored=True,
                        headers=headers,
                    ).answer(req.request_id)
                else:
                    answer = self._dispatch(req)
                if scope is not None and not hold:
                    self._store(scope, req, answer)
            finally:
                if scope is not None and not hold:
                    self._in_flight.discard(scope)
            return answer, scope if hold else None

    def _store(self, scope: tuple[str, str], req: Received, answer: _Answer) -> None:
        if answer.stored:
            self._keys[scope] = _StoredResult(
                self._signature(req), copy.deepcopy(answer), req.request_id, self.now()
            )

    def _authenticate(self, req: Received) -> None:
        key = req.api_key
        if not key:
            raise _Failure(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_"
                "KEY').",
            )
        if key in self.rejected_keys or not re.fullmatch(r"(sk|rk)_(test|live)_\w+", key):
            masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]
            raise _Failure(401, f"Invalid API Key provided: {masked}")
        resource = req.path.removeprefix("/v1/").split("/")[0]
        if resource in self.denied.get(key, set()):
            raise _Failure(
                403,
                f"The provided key '{key[:8]}***{key[-4:]}' does not have the required "
                f"permissions for this endpoint on account 'acct_emu'.",
                type_="invalid_request_error",
            )

    def _idempotency_scope(self, req: Received) -> tuple[str, str] | None:
        key = req.idempotency_key
        if not key or req.method not in self.idempotent_methods:
            return None
        if len(key) > MAX_KEY_LENGTH:
            raise _invalid(
                f"Invalid idempotency_key: must be at most {MAX_KEY_LENGTH} characters",
                "idempotency_key",
            )
        now = self.now()
        for scope in [s for s, r in self._keys.items() if r.created + KEY_TTL <= now]:
            del self._keys[scope]
        return (req.api_key or "", key)

    @staticmethod
    def _signature(req: Received) -> tuple[str, str, str]:
        return (req.method, req.path, _canonical(req.params))

    def _mismatch(self, req: Received, stored: _StoredResult) -> _Failure:
        key = req.idempotency_key
        method, path, _ = stored.signature
        if (method, path) != (req.method, req.path):
            message = (
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{method} {path}' vs '{req.method} {req.path}'). Try using a "
                f"key other than '{key}' if you meant to execute a different request."
            )
        else:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were "
                f"first used with. Try using a key other than '{key}' if you meant to execute a "
                "different request."
            )
        return _Failure(400, message, type_="idempotency_error")

    def _dispatch(self, req: Received) -> _Answer:
        allowed_methods: set[str] = set()
        for method, pattern, name in _ROUTES:
            match = pattern.fullmatch(req.path)
            if match is None:
                continue
            allowed_methods.add(method)
            if method != req.method:
                continue
            endpoint: Callable[..., tuple[str | None, dict[str, Any]]] = getattr(self, "_" + name)
            try:
                object_id, body = endpoint(req.params, *match.groups())
            except _Failure as failure:
                return failure.answer(req.request_id)
            if req.method != "GET" and object_id is not None:
                req.applied = True
                self._applied.append(
                    AppliedWrite(
                        req.method,
                        req.path,
                        object_id,
                        copy.deepcopy(req.params),
                        req.idempotency_key,
                        req.request_id,
                    )
                )
            return _Answer(200, body)
        return _Failure(
            404,
            f"Unrecognized request URL ({req.method}: {req.path}). Please see "
            "https://docs.stripe.com or we can help at https://support.stripe.com/.",
        ).answer(req.request_id)

    # --- wire ------------------------------------------------------------------------------

    def _send(
        self, handler: _Handler, req: Received, answer: _Answer, outcome: Outcome = "answered"
    ) -> None:
        req.status = answer.status
        req.outcome = outcome
        data = json.dumps(answer.body, indent=2).encode("utf-8")
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("Request-Id", req.request_id)
            handler.send_header("Stripe-Version", req.stripe_version or API_VERSION)
            if req.idempotency_key and req.method in self.idempotent_methods:
                handler.send_header("Idempotency-Key", req.idempotency_key)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True

    @staticmethod
    def _drop(handler: _Handler) -> None:
        """Close the connection without answering (the client sees it reset or closed)."""
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    def _wait_for_client(self, handler: _Handler, delay: float) -> bool:
        """Hold the answer up to ``delay`` s; True when the client hung up meanwhile."""
        deadline = time.monotonic() + delay
        conn = handler.connection
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([conn], [], [], min(left, 0.02))
            if readable:
                try:
                    return bool(conn.recv(1, socket.MSG_PEEK) == b"")
                except OSError:
                    return True
        return True

    # --- rendering and expansion ------------------------------------------------------------

    def _render(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        # A JSON round trip copies plain JSON data several times faster than deepcopy, which
        # keeps a list page of 100 subscriptions cheap.
        out = cast(dict[str, Any], json.loads(json.dumps(obj)))
        if out.get("object") == "subscription":
            for item in out["items"]["data"]:
                item["price"] = json.loads(json.dumps(self.prices[item["price"]]))
        return out

    def _find(self, object_id: str) -> dict[str, Any] | None:
        stores: dict[str, Mapping[str, dict[str, Any]]] = {
            "customer": self.customers,
            "subscription": self.subscriptions,
            "price": self.prices,
            "product": self.products,
            "payment_method": self.payment_methods,
            "invoice": self.invoices,
            "discount": self.discounts,
        }
        for prefix, kind in _PREFIXES:
            if object_id.startswith(prefix) and kind in stores:
                found = stores[kind].get(object_id)
                return self._render(found) if found is not None else None
        coupon = self.coupons.get(object_id)
        return copy.deepcopy(coupon) if coupon is not None else None

    def _expand(self, obj: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
        for path in paths:
            obj = cast(dict[str, Any], self._expand_path(obj, path.split("."), path))
        return obj

    def _expand_path(self, node: Any, parts: list[str], path: str) -> Any:
        if not parts or node is None or isinstance(node, str):
            return node
        if isinstance(node, list):
            return [self._expand_path(x, parts, path) for x in node]
        head, rest = parts[0], parts[1:]
        if head not in node:
            if node.get("object") == "customer" and head == "subscriptions":
                subs = [
                    self._render(s)
                    for s in self.subscriptions.values()
                    if s["customer"] == node["id"] and s["status"] != "canceled"
                ]
                node[head] = {
                    "object": "list",
                    "data": subs,
                    "has_more": False,
                    "url": f"/v1/customers/{node['id']}/subscriptions",
                }
            else:
                raise _invalid(f"This property cannot be expanded ({path}).", "expand")
        value = node[head]
        if isinstance(value, str):
            value = self._find(value) or value
        elif isinstance(value, list):
            value = [self._find(v) or v if isinstance(v, str) else v for v in value]
        node[head] = self._expand_path(value, rest, path)
        return node

    def _answer_object(self, obj: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        return self._expand(self._render(obj), _expand_list(params))

    def _list(
        self,
        objects: list[dict[str, Any]],
        params: Mapping[str, Any],
        url: str,
        extra: Iterable[str] = (),
    ) -> dict[str, Any]:
        _unknown(params, {"limit", "starting_after", "ending_before", "expand", *extra})
        limit = _int(params.get("limit", "10"), "limit")
        if not 1 <= limit <= 100:
            raise _invalid("Invalid limit: must be between 1 and 100", "limit")
        ordered = list(reversed(objects))  # newest first, as Stripe lists
        ids = [o["id"] for o in ordered]
        if "starting_after" in params:
            after = _str(params["starting_after"], "starting_after")
            if after not in ids:
                raise _missing("object", after, "starting_after")
            ordered = ordered[ids.index(after) + 1 :]
        elif "ending_before" in params:
            before = _str(params["ending_before"], "ending_before")
            if before not in ids:
                raise _missing("object", before, "ending_before")
            ordered = ordered[: ids.index(before)][-limit:]
        page = ordered[:limit]
        body = {
            "object": "list",
            "data": [self._render(o) for o in page],
            "has_more": len(ordered) > limit,
            "url": url,
        }
        return self._expand(body, _expand_list(params))

    def _paged(
        self,
        store: dict[str, dict[str, Any]],
        keep: Callable[[Mapping[str, Any]], bool],
        params: Mapping[str, Any],
        url: str,
        extra: Iterable[str],
    ) -> dict[str, Any]:
        """A list page read from the store's insertion index: newest first, from the cursor on,
        filtered, stopping one past the page (``has_more``)."""
        if "ending_before" in params:  # rare: the plain way
            return self._list([o for o in store.values() if keep(o)], params, url, extra)
        _unknown(params, {"limit", "starting_after", "expand", *extra})
        limit = _int(params.get("limit", "10"), "limit")
        if not 1 <= limit <= 100:
            raise _invalid("Invalid limit: must be between 1 and 100", "limit")
        order, position = self._index(store)
        start = len(order) - 1
        if "starting_after" in params:
            after = _str(params["starting_after"], "starting_after")
            if after not in position:
                raise _missing("object", after, "starting_after")
            start = position[after] - 1
        page: list[dict[str, Any]] = []
        more = False
        for index in range(start, -1, -1):
            obj = store[order[index]]
            if not keep(obj):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(obj)
        body = {
            "object": "list",
            "data": [self._render(o) for o in page],
            "has_more": more,
            "url": url,
        }
        return self._expand(body, _expand_list(params))

    def _index(self, store: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, int]]:
        """The store's ids in insertion order and each id's position (stores only grow)."""
        cached = self._indexes.get(id(store))
        if cached is None or len(cached[0]) != len(store):
            order = list(store)
            cached = (order, {object_id: i for i, object_id in enumerate(order)})
            self._indexes[id(store)] = cached
        return cached

    # --- endpoints: subscriptions -----------------------------------------------------------

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            raise _missing("subscription", subscription_id)
        return sub

    def _customer(self, customer_id: str) -> dict[str, Any]:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise _missing("customer", customer_id)
        return customer

    def _interval_seconds(self, price_id: str) -> int:
        recurring = self.prices[price_id]["recurring"]
        return int(_INTERVAL_SECONDS[recurring["interval"]] * recurring["interval_count"])

    @staticmethod
    def _period_end(sub: Mapping[str, Any]) -> int:
        return max(int(item["current_period_end"]) for item in sub["items"]["data"])

    def _list_subscriptions(self, params: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        status = _str(params.get("status", ""), "status")
        if status and status not in SUBSCRIPTION_STATUSES | {"all", "ended"}:
            raise _invalid(f"Invalid status: {status}", "status")
        customer = params.get("customer")
        price = params.get("price")
        created = _range_filter(params, "created")
        method = params.get("collection_method")

        def keep(sub: Mapping[str, Any]) -> bool:
            if customer is not None and sub["customer"] != customer:
                return False
            if price is not None and all(i["price"] != price for i in sub["items"]["data"]):
                return False
            if method is not None and sub["collection_method"] != method:
                return False
            if not created(sub["created"]):
                return False
            if status == "ended":
                return sub["status"] in ("canceled", "incomplete_expired")
            if status == "all":
                return True
            if status:
                return bool(sub["status"] == status)
            return bool(sub["status"] != "canceled")

        extra = ("status", "customer", "price", "created", "collection_method")
        return None, self._paged(self.subscriptions, keep, params, "/v1/subscriptions", extra)

    def _retrieve_subscription(
        self, params: dict[str, Any], subscription_id: str
    ) -> tuple[None, dict[str, Any]]:
        _unknown(params, {"expand"})
        return None, self._answer_object(self._subscription(subscription_id), params)

    def _create_subscription(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        _unknown(params, {"customer", "items", "trial_end", "default_payment_method", "expand"})
        customer = _str(params.get("customer"), "customer")
        self._customer(customer)
        items = _array(params.get("items"), "items")
        if len(items) != 1:
            raise _invalid("The emulator creates subscriptions with exactly one item", "items")
        item = _dict(items[0], "items[0]")
        _unknown(item, {"price", "quantity"}, "items[0]")
        price = _str(item.get("price"), "items[0][price]")
        if price not in self.prices:
            raise _missing("price", price, "items[0][price]")
        trial_end = params.get("trial_end")
        sub_id = self.add_subscription(
            customer=customer,
            price=price,
            quantity=_int(item.get("quantity", "1"), "items[0][quantity]"),
            trial_end=_int(trial_end, "trial_end") if trial_end else None,
            default_payment_method=params.get("default_payment_method"),
        )
        return sub_id, self._answer_object(self.subscriptions[sub_id], params)

    def _update_subscription(
        self, params: dict[str, Any], subscription_id: str
    ) -> tuple[str, dict[str, Any]]:
        _unknown(
            params,
            {
                "cancel_at_period_end",
                "cancel_at",
                "cancellation_details",
                "default_payment_method",
                "discounts",
                "expand",
                "items",
                "metadata",
                "pause_collection",
                "proration_behavior",
                "proration_date",
                "trial_end",
            },
        )
        sub = copy.deepcopy(self._subscription(subscription_id))
        ended = sub["status"] in ("canceled", "incomplete_expired")
        if ended and set(params) - {"cancellation_details", "metadata", "expand"}:
            raise _invalid(
                "A canceled subscription can only update its cancellation_details and metadata.",
                code="parameter_invalid",
            )
        now = self.now()
        if "cancel_at_period_end" in params and "cancel_at" in params:
            raise _invalid(
                "You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
                "cancel_at",
            )
        if "proration_behavior" in params:
            behavior = _str(params["proration_behavior"], "proration_behavior")
            if behavior not in PRORATION_BEHAVIORS:
                raise _invalid(f"Invalid proration_behavior: {behavior}", "proration_behavior")
        if "items" in params:
            self._apply_items(sub, _array(params["items"], "items"))
        if "trial_end" in params:
            self._apply_trial_end(sub, params["trial_end"], now)
        if "cancellation_details" in params:
            self._apply_cancellation_details(sub, params["cancellation_details"])
        if "cancel_at_period_end" in params:
            if _bool(params["cancel_at_period_end"], "cancel_at_period_end"):
                sub["cancel_at_period_end"] = True
                sub["cancel_at"] = self._period_end(sub)
                sub["cancellation_details"]["reason"] = "cancellation_requested"
            else:
                if sub["cancel_at_period_end"]:
                    sub["cancel_at"] = None
                sub["cancel_at_period_end"] = False
                if sub["cancel_at"] is None:
                    sub["cancellation_details"]["reason"] = None
        elif sub["cancel_at_period_end"]:
            sub["cancel_at"] = self._period_end(sub)  # the period may have moved (trial_end)
        if "cancel_at" in params:
            value = params["cancel_at"]
            if value == "":
                sub["cancel_at"] = None
                sub["cancellation_details"]["reason"] = None
            else:
                at = _int(value, "cancel_at")
                if at <= now:
                    raise _invalid("cancel_at must be in the future.", "cancel_at")
                sub["cancel_at"] = at
                sub["cancellation_details"]["reason"] = "cancellation_requested"
            sub["cancel_at_period_end"] = False
        if "discounts" in params:
            self._apply_discounts(sub, params["discounts"])
        if "pause_collection" in params:
            sub["pause_collection"] = self._pause_collection(params["pause_collection"])
        if "default_payment_method" in params:
            pm = _str(params["default_payment_method"], "default_payment_method")
            if pm and pm not in self.payment_methods:
                raise _missing("PaymentMethod", pm, "default_payment_method")
            sub["default_payment_method"] = pm or None
        if "metadata" in params:
            _apply_metadata(sub, params["metadata"])
        self.subscriptions[subscription_id] = sub
        return subscription_id, self._answer_object(sub, params)

    def _apply_items(self, sub: dict[str, Any], items: list[Any]) -> None:
        data: list[dict[str, Any]] = sub["items"]["data"]
        by_id = {item["id"]: item for item in data}
        for index, raw in enumerate(items):
            name = f"items[{index}]"
            item = _dict(raw, name)
            _unknown(item, {"id", "price", "quantity", "deleted", "metadata"}, name)
            price = item.get("price")
            if price is not None:
                price = _str(price, f"{name}[price]")
                if price not in self.prices:
                    raise _missing("price", price, f"{name}[price]")
                if self.prices[price]["type"] != "recurring":
                    raise _invalid("The price specified is not recurring.", f"{name}[price]")
                if self.prices[price]["currency"] != sub["currency"]:
                    raise _invalid(
                        "The price specified has a different currency from the subscription.",
                        f"{name}[price]",
                    )
            if "id" in item:
                item_id = _str(item["id"], f"{name}[id]")
                if item_id not in by_id:
                    raise _invalid(
                        f"Invalid subscription_item: {item_id} does not belong to "
                        f"subscription {sub['id']}.",
                        f"{name}[id]",
                    )
                target = by_id[item_id]
                if "deleted" in item and _bool(item["deleted"], f"{name}[deleted]"):
                    data.remove(target)
                    continue
                if price is not None:
                    target["price"] = price
            else:
                if price is None:
                    raise _invalid(
                        "Missing required param: price.", f"{name}[price]", "parameter_missing"
                    )
                first = data[0] if data else None
                target = {
                    "id": self._new_id("si"),
                    "object": "subscription_item",
                    "created": self.now(),
                    "current_period_start": first["current_period_start"] if first else self.now(),
                    "current_period_end": first["current_period_end"]
                    if first
                    else self.now() + self._interval_seconds(price),
                    "discounts": [],
                    "metadata": {},
                    "price": price,
                    "quantity": 1,
                    "subscription": sub["id"],
                    "tax_rates": [],
                }
                data.append(target)
            if "quantity" in item:
                target["quantity"] = _int(item["quantity"], f"{name}[quantity]")
        if not data:
            raise _invalid("A subscription must keep at least one item.", "items")
        sub["items"]["total_count"] = len(data)

    def _apply_trial_end(self, sub: dict[str, Any], value: Any, now: int) -> None:
        if value == "now":
            end = now
        else:
            end = _int(value, "trial_end")
            if end <= now:
                raise _invalid(
                    "Invalid timestamp: must be an integer Unix timestamp in the future.",
                    "trial_end",
                )
        if end > now:
            if sub["status"] != "trialing":
                sub["trial_start"] = now
            sub["status"] = "trialing"
            start = now
            period_end = end
        else:
            if sub["status"] == "trialing":
                sub["status"] = "active"
            start = now
            period_end = now + self._interval_seconds(sub["items"]["data"][0]["price"])
        sub["trial_end"] = end
        sub["billing_cycle_anchor"] = end
        for item in sub["items"]["data"]:
            item["current_period_start"] = start
            item["current_period_end"] = period_end

    def _apply_cancellation_details(self, sub: dict[str, Any], value: Any) -> None:
        details = sub["cancellation_details"]
        if value == "":
            details.update(comment=None, feedback=None)
            return
        given = _dict(value, "cancellation_details")
        _unknown(given, {"comment", "feedback"}, "cancellation_details")
        if "feedback" in given:
            feedback = _str(given["feedback"], "cancellation_details[feedback]")
            if feedback and feedback not in FEEDBACK:
                raise _invalid(
                    f"Invalid cancellation_details[feedback]: must be one of "
                    f"{', '.join(sorted(FEEDBACK))}",
                    "cancellation_details[feedback]",
                )
            details["feedback"] = feedback or None
        if "comment" in given:
            comment = _str(given["comment"], "cancellation_details[comment]")
            if len(comment) > 5000:
                raise _invalid(
                    "Invalid cancellation_details[comment]: must be at most 5000 characters",
                    "cancellation_details[comment]",
                )
            details["comment"] = comment or None

    def _apply_discounts(self, sub: dict[str, Any], value: Any) -> None:
        if value == "":
            sub["discounts"] = []
            return
        entries = _array(value, "discounts")
        new: list[str] = []
        seen: set[str] = set()
        for index, raw in enumerate(entries):
            name = f"discounts[{index}]"
            entry = _dict(raw, name)
            _unknown(entry, {"coupon", "discount", "promotion_code"}, name)
            if len(entry) != 1:
                raise _invalid(
                    "You must specify exactly one of coupon, discount or promotion_code in "
                    f"{name}.",
                    name,
                )
            if "discount" in entry:
                discount_id = _str(entry["discount"], f"{name}[discount]")
                if discount_id not in sub["discounts"]:
                    raise _missing("discount", discount_id, f"{name}[discount]")
                coupon_id = self.discounts[discount_id]["source"]["coupon"]
                if coupon_id in seen:
                    raise _invalid("The same coupon cannot be applied more than once.", name)
                seen.add(coupon_id)
                new.append(discount_id)
                continue
            if "promotion_code" in entry:
                raise _invalid("The emulator has no promotion codes.", f"{name}[promotion_code]")
            coupon_id = _str(entry["coupon"], f"{name}[coupon]")
            coupon = self.coupons.get(coupon_id)
            if coupon is None:
                raise _missing("coupon", coupon_id, f"{name}[coupon]")
            if not coupon["valid"]:
                raise _invalid(f"Coupon expired: {coupon_id}", f"{name}[coupon]")
            if coupon_id in seen:
                raise _invalid("The same coupon cannot be applied more than once.", name)
            seen.add(coupon_id)
            new.append(self._new_discount(coupon_id, sub))
        sub["discounts"] = new

    def _new_discount(self, coupon_id: str, sub: Mapping[str, Any]) -> str:
        coupon = self.coupons[coupon_id]
        start = self.now()
        end = None
        if coupon["duration"] == "repeating" and coupon["duration_in_months"]:
            end = start + int(coupon["duration_in_months"]) * 30 * 86400
        discount_id = self._new_id("di")
        self.discounts[discount_id] = {
            "id": discount_id,
            "object": "discount",
            "checkout_session": None,
            "customer": sub["customer"],
            "end": end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"type": "coupon", "coupon": coupon_id},
            "start": start,
            "subscription": sub["id"],
            "subscription_item": None,
        }
        coupon["times_redeemed"] += 1
        return discount_id

    @staticmethod
    def _pause_collection(value: Any) -> dict[str, Any] | None:
        if value == "":
            return None
        given = _dict(value, "pause_collection")
        _unknown(given, {"behavior", "resumes_at"}, "pause_collection")
        behavior = given.get("behavior")
        if behavior is None:
            raise _invalid(
                "Missing required param: pause_collection[behavior].",
                "pause_collection[behavior]",
                "parameter_missing",
            )
        if behavior not in PAUSE_BEHAVIORS:
            raise _invalid(
                f"Invalid pause_collection[behavior]: {behavior}", "pause_collection[behavior]"
            )
        resumes_at = given.get("resumes_at")
        return {
            "behavior": behavior,
            "resumes_at": _int(resumes_at, "pause_collection[resumes_at]")
            if resumes_at not in (None, "")
            else None,
        }

    def _cancel_subscription(
        self, params: dict[str, Any], subscription_id: str
    ) -> tuple[str, dict[str, Any]]:
        _unknown(params, {"cancellation_details", "expand", "invoice_now", "prorate"})
        current = self._subscription(subscription_id)
        if current["status"] == "canceled":
            # What Stripe answers for a subscription that is already canceled.
            raise _missing("subscription", subscription_id)
        for flag in ("invoice_now", "prorate"):
            if flag in params:
                _bool(params[flag], flag)
        sub = copy.deepcopy(current)
        if "cancellation_details" in params:
            self._apply_cancellation_details(sub, params["cancellation_details"])
        now = self.now()
        sub.update(status="canceled", canceled_at=now, ended_at=now, cancel_at=None)
        sub["cancel_at_period_end"] = False
        sub["cancellation_details"]["reason"] = "cancellation_requested"
        self.subscriptions[subscription_id] = sub
        return subscription_id, self._answer_object(sub, params)

    # --- endpoints: customers, catalog, payment methods ------------------------------------

    def _list_customers(self, params: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        email = params.get("email")
        found = [c for c in self.customers.values() if email is None or c["email"] == email]
        return None, self._list(found, params, "/v1/customers", ("email",))

    def _retrieve_customer(
        self, params: dict[str, Any], customer_id: str
    ) -> tuple[None, dict[str, Any]]:
        _unknown(params, {"expand"})
        return None, self._answer_object(self._customer(customer_id), params)

    def _create_customer(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        _unknown(params, {"email", "name", "preferred_locales", "metadata", "expand"})
        locales = params.get("preferred_locales", [])
        customer_id = self.add_customer(
            email=params.get("email"),
            name=params.get("name"),
            preferred_locales=[] if locales == "" else _array(locales, "preferred_locales"),
        )
        if "metadata" in params:
            _apply_metadata(self.customers[customer_id], params["metadata"])
        return customer_id, self._answer_object(self.customers[customer_id], params)

    def _update_customer(
        self, params: dict[str, Any], customer_id: str
    ) -> tuple[str, dict[str, Any]]:
        _unknown(
            params, {"email", "name", "preferred_locales", "invoice_settings", "metadata", "expand"}
        )
        customer = copy.deepcopy(self._customer(customer_id))
        for name in ("email", "name"):
            if name in params:
                customer[name] = _str(params[name], name) or None
        if "preferred_locales" in params:
            locales = params["preferred_locales"]
            customer["preferred_locales"] = (
                [] if locales == "" else _array(locales, "preferred_locales")
            )
        if "invoice_settings" in params:
            settings = _dict(params["invoice_settings"], "invoice_settings")
            _unknown(settings, {"default_payment_method"}, "invoice_settings")
            pm = _str(settings.get("default_payment_method", ""), "default_payment_method")
            if pm and pm not in self.payment_methods:
                raise _missing("PaymentMethod", pm, "invoice_settings[default_payment_method]")
            customer["invoice_settings"]["default_payment_method"] = pm or None
        if "metadata" in params:
            _apply_metadata(customer, params["metadata"])
        self.customers[customer_id] = customer
        return customer_id, self._answer_object(customer, params)

    def _list_prices(self, params: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        return None, self._list(list(self.prices.values()), params, "/v1/prices", ("active",))

    def _retrieve_price(self, params: dict[str, Any], price_id: str) -> tuple[None, dict[str, Any]]:
        _unknown(params, {"expand"})
        if price_id not in self.prices:
            raise _missing("price", price_id)
        return None, self._answer_object(self.prices[price_id], params)

    def _list_products(self, params: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        return None, self._list(list(self.products.values()), params, "/v1/products", ("active",))

    def _retrieve_product(
        self, params: dict[str, Any], product_id: str
    ) -> tuple[None, dict[str, Any]]:
        _unknown(params, {"expand"})
        if product_id not in self.products:
            raise _missing("product", product_id)
        return None, self._answer_object(self.products[product_id], params)

    def _retrieve_payment_method(
        self, params: dict[str, Any], pm_id: str
    ) -> tuple[None, dict[str, Any]]:
        _unknown(params, {"expand"})
        if pm_id not in self.payment_methods:
            raise _missing("PaymentMethod", pm_id)
        return None, self._answer_object(self.payment_methods[pm_id], params)

    # --- endpoints: coupons -----------------------------------------------------------------

    def _coupon_object(
        self,
        coupon_id: str,
        name: str | None,
        percent_off: float | None,
        amount_off: int | None,
        currency: str | None,
        duration: str,
        duration_in_months: int | None,
    ) -> dict[str, Any]:
        return {
            "id": coupon_id,
            "object": "coupon",
            "amount_off": amount_off,
            "created": self.now(),
            "currency": currency,
            "duration": duration,
            "duration_in_months": duration_in_months,
            "livemode": False,
            "max_redemptions": None,
            "metadata": {},
            "name": name,
            "percent_off": percent_off,
            "redeem_by": None,
            "times_redeemed": 0,
            "valid": True,
        }

    def _list_coupons(self, params: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        return None, self._list(list(self.coupons.values()), params, "/v1/coupons")

    def _retrieve_coupon(
        self, params: dict[str, Any], coupon_id: str
    ) -> tuple[None, dict[str, Any]]:
        _unknown(params, {"expand"})
        if coupon_id not in self.coupons:
            raise _missing("coupon", coupon_id)
        return None, copy.deepcopy(self.coupons[coupon_id])

    def _create_coupon(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        _unknown(
            params,
            {
                "id",
                "name",
                "percent_off",
                "amount_off",
                "currency",
                "duration",
                "duration_in_months",
                "metadata",
                "expand",
            },
        )
        duration = _str(params.get("duration", "once"), "duration")
        if duration not in COUPON_DURATIONS:
            raise _invalid(f"Invalid duration: {duration}", "duration")
        percent_off = amount_off = None
        if "percent_off" in params:
            try:
                percent_off = float(_str(params["percent_off"], "percent_off"))
            except ValueError:
                raise _invalid(f"Invalid decimal: {params['percent_off']}", "percent_off") from None
            if not 0 < percent_off <= 100:
                raise _invalid("percent_off must be between 0 and 100", "percent_off")
        if "amount_off" in params:
            amount_off = _int(params["amount_off"], "amount_off")
        if (percent_off is None) == (amount_off is None):
            raise _invalid("You must pass exactly one of amount_off or percent_off.", "percent_off")
        currency = params.get("currency")
        if amount_off is not None and not currency:
            raise _invalid(
                "You must pass currency when passing amount_off.", "currency", "parameter_missing"
            )
        months = None
        if duration == "repeating":
            if "duration_in_months" not in params:
                raise _invalid(
                    "Missing required param: duration_in_months.",
                    "duration_in_months",
                    "parameter_missing",
                )
            months = _int(params["duration_in_months"], "duration_in_months")
        elif "duration_in_months" in params:
            raise _invalid(
                "duration_in_months is only allowed with duration=repeating.", "duration_in_months"
            )
        coupon_id = _str(params.get("id") or secrets.token_hex(4).upper(), "id")
        if coupon_id in self.coupons:
            raise _invalid("Coupon already exists.", "id", "resource_already_exists")
        coupon = self._coupon_object(
            coupon_id, params.get("name"), percent_off, amount_off, currency, duration, months
        )
        if "metadata" in params:
            _apply_metadata(coupon, params["metadata"])
        self.coupons[coupon_id] = coupon
        return coupon_id, copy.deepcopy(coupon)

    # --- endpoints: invoices ----------------------------------------------------------------

    def _list_invoices(self, params: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        customer = params.get("customer")
        status = params.get("status")
        if status is not None and status not in INVOICE_STATUSES:
            raise _invalid(f"Invalid status: {status}", "status")
        method = params.get("collection_method")
        created = _range_filter(params, "created")

        def keep(invoice: Mapping[str, Any]) -> bool:
            return (
                (customer is None or invoice["customer"] == customer)
                and (status is None or invoice["status"] == status)
                and (method is None or invoice["collection_method"] == method)
                and created(invoice["created"])
            )

        extra = ("customer", "status", "created", "collection_method")
        return None, self._paged(self.invoices, keep, params, "/v1/invoices", extra)

    def _retrieve_invoice(
        self, params: dict[str, Any], invoice_id: str
    ) -> tuple[None, dict[str, Any]]:
        _unknown(params, {"expand"})
        if invoice_id not in self.invoices:
            raise _missing("invoice", invoice_id)
        return None, self._answer_object(self.invoices[invoice_id], params)

    def _pay_invoice(self, params: dict[str, Any], invoice_id: str) -> tuple[str, dict[str, Any]]:
        _unknown(params, {"payment_method", "off_session", "expand"})
        if invoice_id not in self.invoices:
            raise _missing("invoice", invoice_id)
        invoice = self.invoices[invoice_id]
        if invoice["status"] == "paid":
            raise _invalid("Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] != "open":
            raise _invalid(
                f"This invoice can only be paid when open; it is {invoice['status']}.",
                code="invoice_not_open",
            )
        pm = params.get("payment_method") or self._default_payment_method(invoice)
        if pm is not None and pm not in self.payment_methods:
            raise _missing("PaymentMethod", pm, "payment_method")
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        if pm is None or pm in self.declining_payment_methods:
            # The attempt happened (attempt_count moved): Stripe stores this answer.
            raise _Failure(
                402,
                "Your card was declined."
                if pm
                else "This customer has no attached payment source.",
                type_="card_error" if pm else "invalid_request_error",
                code="card_declined" if pm else "invoice_no_customer_line_items",
                stored=True,
                extra={"decline_code": "generic_decline"} if pm else None,
            )
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        invoice["status_transitions"]["paid_at"] = self.now()
        return invoice_id, self._answer_object(invoice, params)

    def _default_payment_method(self, invoice: Mapping[str, Any]) -> str | None:
        parent = invoice.get("parent") or {}
        sub_id = (parent.get("subscription_details") or {}).get("subscription")
        sub = self.subscriptions.get(sub_id) if sub_id else None
        if sub is not None and sub.get("default_payment_method"):
            return cast(str, sub["default_payment_method"])
        customer = self.customers.get(invoice["customer"])
        if customer is None:
            return None
        return cast("str | None", customer["invoice_settings"]["default_payment_method"])

    # --- endpoints: billing portal ----------------------------------------------------------

    def _create_portal_session(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        _unknown(
            params,
            {"customer", "return_url", "flow_data", "configuration", "locale", "expand"},
        )
        if "customer" not in params:
            raise _invalid("Missing required param: customer.", "customer", "parameter_missing")
        customer_id = _str(params["customer"], "customer")
        self._customer(customer_id)
        return_url = params.get("return_url")
        if return_url is not None and not re.match(r"https?://", _str(return_url, "return_url")):
            raise _invalid("Not a valid URL", "return_url", "url_invalid")
        flow: dict[str, Any] | None = None
        if "flow_data" in params:
            flow = self._portal_flow(_dict(params["flow_data"], "flow_data"), customer_id)
        token = secrets.token_hex(12)
        session: dict[str, Any] = {
            "id": f"bps_emu{secrets.token_hex(8)}",
            "object": "billing_portal.session",
            "configuration": "bpc_emu_default",
            "created": self.now(),
            "customer": customer_id,
            "flow": flow,
            "livemode": False,
            "locale": params.get("locale"),
            "on_behalf_of": None,
            "return_url": return_url,
            "url": f"{self.portal_base}/test_{token}",
        }
        self.portal_sessions.append(session)
        return session["id"], copy.deepcopy(session)

    def _portal_flow(self, flow_data: dict[str, Any], customer_id: str) -> dict[str, Any]:
        _unknown(
            flow_data,
            {
                "type",
                "after_completion",
                "subscription_cancel",
                "subscription_update",
                "subscription_update_confirm",
            },
            "flow_data",
        )
        kind = flow_data.get("type")
        if kind not in PORTAL_FLOWS:
            raise _invalid(f"Invalid flow_data[type]: {kind}", "flow_data[type]")
        flow: dict[str, Any] = {
            "type": kind,
            "after_completion": {"type": "portal_homepage"},
            "subscription_cancel": None,
            "subscription_update": None,
            "subscription_update_confirm": None,
        }
        if kind == "subscription_cancel":
            detail = _dict(flow_data.get("subscription_cancel"), "flow_data[subscription_cancel]")
            _unknown(detail, {"subscription", "retention"}, "flow_data[subscription_cancel]")
            param = "flow_data[subscription_cancel][subscription]"
            sub_id = _str(detail.get("subscription"), param)
            sub = self.subscriptions.get(sub_id)
            if sub is None or sub["customer"] != customer_id:
                raise _missing("subscription", sub_id, param)
            if sub["status"] == "canceled":
                raise _invalid(
                    "You can't create a portal session to cancel a subscription that is already "
                    "canceled.",
                    param,
                )
            flow["subscription_cancel"] = {"retention": None, "subscription": sub_id}
        return flow

    def _list_portal_configurations(self, params: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        config = {
            "id": "bpc_emu_default",
            "object": "billing_portal.configuration",
            "active": True,
            "is_default": True,
            "livemode": False,
        }
        return None, self._list([config], params, "/v1/billing_portal/configurations", ("active",))


def _apply_metadata(obj: dict[str, Any], value: Any) -> None:
    if value == "":
        obj["metadata"] = {}
        return
    for key, item in _dict(value, "metadata").items():
        if item == "":
            obj["metadata"].pop(key, None)
        else:
            obj["metadata"][key] = _str(item, f"metadata[{key}]")


def _range_filter(params: Mapping[str, Any], name: str) -> Callable[[int], bool]:
    """A timestamp filter such as ``created`` (an exact value, or gt/gte/lt/lte bounds)."""
    value = params.get(name)
    if value is None:
        return lambda _: True
    if not isinstance(value, dict):
        exact = _int(value, name)
        return lambda t: t == exact
    _unknown(value, {"gt", "gte", "lt", "lte"}, name)
    bounds = {op: _int(v, f"{name}[{op}]") for op, v in value.items()}

    def within(t: int) -> bool:
        return (
            ("gt" not in bounds or t > bounds["gt"])
            and ("gte" not in bounds or t >= bounds["gte"])
            and ("lt" not in bounds or t < bounds["lt"])
            and ("lte" not in bounds or t <= bounds["lte"])
        )

    return within


def _expand_list(params: Mapping[str, Any]) -> list[str]:
    value = params.get("expand", [])
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in _array(value, "expand") if isinstance(v, str)]


def _api_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None
