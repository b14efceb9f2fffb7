"""A stripe-python HTTP client that records every request and answers from a responder (tests,
preview mode): the exact wire format, and nothing leaves the machine."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

from cancelpage.billing.preview import preview_answer


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it would have gone over the wire."""

    method: str
    path: str
    params: dict[str, str]
    idempotency_key: str | None
    url: str = ""
    # Every header except Authorization, which carries the key.
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("Stripe-Version")


# (status, body) or (status, body, response headers), e.g. {"Stripe-Should-Retry": "false"}.
Responder = Callable[
    [RecordedRequest], tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], dict[str, str]]
]


class RecordingHTTPClient(stripe.HTTPClient):
    """Records every request; answers each from a responder callable or, by default, from
    built-in preview answers."""

    name = "recording"

    def __init__(self, responder: Responder | None = None) -> None:
        super().__init__()
        self._responder: Responder = responder or preview_answer
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        if isinstance(post_data, bytes):
            post_data = post_data.decode("utf-8")
        body = post_data if isinstance(post_data, str) else parts.query
        recorded = RecordedRequest(
            method=method.lower(),
            path=parts.path,
            params=dict(parse_qsl(body, keep_blank_values=True)),
            idempotency_key=(headers or {}).get("Idempotency-Key"),
            url=url,
            headers={k: v for k, v in (headers or {}).items() if k.lower() != "authorization"},
        )
        with self._lock:
            self.requests.append(recorded)
        answer = self._responder(recorded)
        status, payload = answer[0], answer[1]
        # stripe-python looks headers up in lower case (requests gives it a case-insensitive dict).
        headers = {"content-type": "application/json"}
        if len(answer) == 3:
            headers.update({k.lower(): v for k, v in answer[2].items()})
        return json.dumps(payload), status, headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        raise NotImplementedError("RecordingHTTPClient does not stream")

    def close(self) -> None:
        """Nothing to release."""

    def _sleep_time_seconds(self, num_retries: int) -> float:
        # Nothing is remote, so SDK retries need no backoff (keeps tests fast).
        return 0.0
