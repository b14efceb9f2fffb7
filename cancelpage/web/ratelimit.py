"""The customer pages' rate limits (docs/RELIABILITY.md 26): per address and per link, both in
one Redis round trip per request (a Lua script), or in this process's memory in development.

A sliding window of two fixed buckets: the previous bucket's count, weighted by how much of it
still lies inside the window, plus the current bucket's. Refused requests are not counted, so a
limit means what it says: at most N requests in any window. The dashboard and the link API keep
Flask-Limiter (their requests are few); this is the path every customer request takes.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import limits
import redis
from flask import Flask, current_app, g, request
from werkzeug.exceptions import TooManyRequests

P = ParamSpec("P")
R = TypeVar("R")
EXTENSION = "cancelpage.customer_limits"
KEY_PREFIX = "LIMITS:LIMITER"  # Flask-Limiter's, so one key pattern finds every limit's keys

# KEYS: one current and one previous bucket per limit. ARGV: now, then (amount, window) per
# limit. Returns 0 (every limit had room: all counted) or the seconds until the refused one
# has room again.
SCRIPT = """
local now = tonumber(ARGV[1])
local limits = #KEYS / 2
for i = 1, limits do
  local amount, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local elapsed = (now % window) / window
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if previous * (1 - elapsed) + current + 1 > amount then
    return math.max(1, math.ceil(window - (now % window)))
  end
end
for i = 1, limits do
  local window = tonumber(ARGV[2 * i + 1])
  if redis.call('INCR', KEYS[2 * i - 1]) == 1 then
    redis.call('EXPIRE', KEYS[2 * i - 1], 2 * window)
  end
end
return 0
"""


class MemoryCounts:
    """The same windows in one process (development and tests: RATELIMIT_STORAGE_URI memory://)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def check(self, keys: Sequence[str], args: Sequence[float]) -> int:
        now = args[0]
        with self.lock:
            for i in range(len(keys) // 2):
                amount, window = args[2 * i + 1], args[2 * i + 2]
                elapsed = (now % window) / window
                current = self.counts.get(keys[2 * i], 0)
                previous = self.counts.get(keys[2 * i + 1], 0)
                if previous * (1 - elapsed) + current + 1 > amount:
                    return max(1, math.ceil(window - now % window))
            for i in range(len(keys) // 2):
                self.counts[keys[2 * i]] = self.counts.get(keys[2 * i], 0) + 1
            return 0


class RedisCounts:
    def __init__(self, url: str) -> None:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = client.register_script(SCRIPT)

    def check(self, keys: Sequence[str], args: Sequence[float]) -> int:
        return int(self.script(keys=list(keys), args=list(args)))


def init_app(app: Flask) -> None:
    uri = str(app.config["RATELIMIT_STORAGE_URI"])
    if uri.startswith("memory"):
        app.extensions[EXTENSION] = MemoryCounts()
    elif uri.startswith(("redis://", "rediss://", "unix://")):
        app.extensions[EXTENSION] = RedisCounts(uri)
    else:
        raise ValueError("RATELIMIT_STORAGE_URI: redis://host:6379/0 (memory:// in development)")


@functools.lru_cache(maxsize=64)
def _parsed(limit: str) -> tuple[int, int]:
    item = limits.parse(limit)
    return item.amount, item.get_expiry()


def check(named: Sequence[tuple[str, str, str]]) -> None:
    """Count one request against each (scope, key, limit) at once, or refuse it with a 429
    (whose Retry-After is in g.rate_limit_retry_after) without counting it anywhere."""
    config = current_app.config
    if not config["RATELIMIT_ENABLED"]:
        return
    now = time.time()
    keys: list[str] = []
    args: list[float] = [now]
    for scope, key, limit in named:
        amount, window = _parsed(limit)
        bucket = int(now // window)
        base = f"{KEY_PREFIX}/{config['RATELIMIT_KEY_PREFIX']}/{scope}/{key}/{amount}/{window}"
        keys += [f"{base}/{bucket}", f"{base}/{bucket - 1}"]
        args += [amount, window]
    try:
        retry_after = current_app.extensions[EXTENSION].check(keys, args)
    except redis.RedisError:
        if not config["RATELIMIT_SWALLOW_ERRORS"]:
            raise
        return  # Redis down never blocks a cancel
    if retry_after:
        g.rate_limit_retry_after = retry_after
        raise TooManyRequests()


def limited(
    *named: tuple[str, Callable[[], str], str],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view: every request counts against each (scope, key function, config name)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            config = current_app.config
            check([(scope, key(), str(config[name])) for scope, key, name in named])
            return view(*args, **kwargs)

        return wrapped

    return decorate


def remote_address() -> str:
    return request.remote_addr or "127.0.0.1"


def retry_after() -> Any:
    return g.get("rate_limit_retry_after")
