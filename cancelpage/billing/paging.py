"""Reading long Stripe lists a page at a time: ``limit=100`` with ``starting_after``, a count of
every request made (bounded), and 429 answers waited out with exponential backoff.

A page is returned with the cursor for the next one, so a caller can store the cursor and resume
a read after a restart instead of starting the list again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import stripe

from cancelpage.billing.errors import BillingError, translate

PAGE_SIZE = 100  # the most Stripe returns per list request
RATE_LIMIT_RETRIES = 6
BACKOFF_BASE = 1.0  # seconds before the first retry after a 429
BACKOFF_CAP = 30.0

_T = TypeVar("_T")


class RequestBudgetExceeded(BillingError):
    """A read would go over the number of requests it was allowed."""


@dataclass
class ReadStats:
    """Requests made by a long read, and the most it may make."""

    max_requests: int
    requests: int = 0
    rate_limited: int = 0  # 429 answers, each waited out and retried
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1, 2, ...): doubling, capped, jittered."""
        delay: float = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class Page(Generic[_T]):
    """One page of a list and where the next one starts (None: this was the last page)."""

    items: tuple[_T, ...]
    next_cursor: str | None


def read_page(
    fetch: Callable[[], Mapping[str, Any]],
    parse: Callable[[Mapping[str, Any]], _T],
    stats: ReadStats,
) -> Page[_T]:
    """One list request (retried after 429s), parsed; counts every request sent. ``fetch``
    answers the list as parsed JSON and raises stripe errors."""
    attempt = 0
    while True:
        if stats.requests >= stats.max_requests:
            raise RequestBudgetExceeded(
                f"stopped after {stats.requests} Stripe requests (the limit for this read)"
            )
        stats.requests += 1
        try:
            data = fetch()
        except stripe.RateLimitError as err:
            attempt += 1
            stats.rate_limited += 1
            if attempt > RATE_LIMIT_RETRIES:
                raise translate(err) from None
            stats.sleep(stats.backoff(attempt))
            continue
        except stripe.StripeError as err:
            raise translate(err) from None
        objects = [o for o in data.get("data") or [] if isinstance(o, Mapping)]
        items = tuple(parse(o) for o in objects)
        more = data.get("has_more") is True and objects
        return Page(items, str(objects[-1]["id"]) if more else None)
