"""The hash chain of a session's events, as pure functions (no Flask, no database).

Each event's digest is sha256 over its canonical content and the previous event's digest in
the same session (the first event chains to the empty string). Canonical content is JSON with
sorted keys, no whitespace and UTF-8 as is, so any JSON reader recomputes the same bytes.
Changing an event's content changes its digest; deleting or moving one breaks the next link;
deleting the newest ones is caught by the session's stored head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = ""
# Content fields, in the order exports list them.
FIELDS = ("session", "customer", "subscription", "seq", "kind", "at", "data")


def timestamp(moment: datetime) -> str:
    """One spelling of a moment on every engine: UTC, microseconds, ISO 8601."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(
        {name: content[name] for name in FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def link(content: Mapping[str, Any], previous: str) -> str:
    """The digest of one event: its canonical content, chained to the previous digest."""
    return hashlib.sha256(previous.encode() + b"\n" + canonical(content)).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first link of a session's chain that does not hold, and why."""

    session: int
    seq: int | None
    position: int  # 1-based place of the event in the listing (or the session's end)
    problem: str

    def __str__(self) -> str:
        where = f"event {self.seq}" if self.seq is not None else "its end"
        return f"session {self.session}, {where} (row {self.position}): {self.problem}"


@dataclass(frozen=True)
class Verdict:
    sessions: int
    events: int
    breaks: tuple[Break, ...]

    @property
    def ok(self) -> bool:
        return not self.breaks


def verify(events: Iterable[Mapping[str, Any]], heads: Mapping[int, str | None]) -> Verdict:
    """Check every session's chain in listing order; one Break (the first) per broken session.

    ``events`` carry the content fields and ``digest``; ``heads`` the newest digest each
    session recorded (None: nothing recorded). Events without a place (recorded before the
    chain existed) are skipped.
    """
    state: dict[int, tuple[int, str]] = {}  # session -> (last seq, last digest)
    broken: dict[int, Break] = {}
    count = 0
    for position, event in enumerate(events, start=1):
        session = int(event["session"])
        if event.get("seq") is None:
            continue
        count += 1
        if session in broken:
            continue
        seq = int(event["seq"])
        last_seq, previous = state.get(session, (0, GENESIS))
        problem = None
        if seq <= last_seq:
            problem = f"out of order: comes after event {last_seq}"
        elif seq != last_seq + 1:
            missing = last_seq + 1 if seq == last_seq + 2 else f"{last_seq + 1}-{seq - 1}"
            problem = f"event {missing} is missing"
        elif event.get("digest") != link(event, previous):
            problem = "its content or its place does not match its digest (edited)"
        if problem is not None:
            broken[session] = Break(session, seq, position, problem)
            continue
        state[session] = (seq, str(event["digest"]))
    for session, head in heads.items():
        if session in broken or head is None:
            continue
        last_seq, last = state.get(session, (0, GENESIS))
        if last != head:
            broken[session] = Break(
                session, None, count, f"the newest events after event {last_seq} are missing"
            )
    sessions = set(state) | set(broken) | {s for s, h in heads.items() if h is not None}
    ordered = tuple(sorted(broken.values(), key=lambda b: (b.position, b.session)))
    return Verdict(len(sessions), count, ordered)
