"""Helpers for the gateway's tests: the expansions every subscription read asks for, one request."""

from __future__ import annotations

from cancelpage.billing import (
    RecordedRequest,
    RecordingHTTPClient,
)
from support.stripe_support import (
    SUB_ID,
)

EXPAND = {
    "expand[0]": "customer",
    "expand[1]": "items.data.price.product",
    "expand[2]": "discounts",
}
SUB_PATH = f"/v1/subscriptions/{SUB_ID}"


def only_request(rec: RecordingHTTPClient) -> RecordedRequest:
    assert len(rec.requests) == 1, rec.requests
    return rec.requests[0]
