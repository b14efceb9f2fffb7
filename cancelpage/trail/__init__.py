"""The tamper-evident trail: every session event is a link of a hash chain (chain.py), and a
merchant exports its events per customer or date range, as CSV or JSON, with what a reader
needs to verify them (``flask --app cancelpage audit verify``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from cancelpage.extensions import db
from cancelpage.models import CancelSession, Merchant, SessionEvent, utcnow
from cancelpage.trail.chain import GENESIS, Verdict, link, timestamp, verify

__all__ = [
    "export_csv",
    "export_json",
    "filters",
    "parse_export",
    "record",
    "verify",
    "verify_stored",
]

CSV_COLUMNS = ("session", "customer", "subscription", "seq", "kind", "at", "data", "digest")
CSV_HEAD = "session_head"


def content(session: CancelSession, seq: int | None, event: SessionEvent) -> dict[str, Any]:
    return {
        "session": session.id,
        "customer": session.customer_id,
        "subscription": session.subscription_id,
        "seq": seq,
        "kind": event.kind,
        "at": timestamp(event.created_at),
        "data": event.data,
    }


def _last_link(session: CancelSession) -> tuple[int, str]:
    """The session's newest place and digest (autoflush: events added this transaction too)."""
    row = db.session.execute(
        sa.select(SessionEvent.seq, SessionEvent.digest)
        .where(SessionEvent.session_id == session.id, SessionEvent.seq.is_not(None))
        .order_by(SessionEvent.seq.desc())
        .limit(1)
    ).first()
    return (int(row.seq), str(row.digest)) if row is not None else (0, GENESIS)


def record(session: CancelSession, kind: str, data: dict[str, Any]) -> SessionEvent:
    """Add one event as the next link of the session's chain (in the caller's transaction).

    ``data`` holds ids, codes and flags only: never a token, key or email address.
    """
    seq, previous = _last_link(session)
    event = SessionEvent(session=session, kind=kind, data=data, created_at=utcnow(), seq=seq + 1)
    # The JSON column stores what json.dumps makes of the data: chain what will be read back.
    event.data = json.loads(json.dumps(data))
    event.digest = link(content(session, seq + 1, event), previous)
    session.trail_head = event.digest
    db.session.add(event)
    return event


# ---- reading it back -------------------------------------------------------------------------


def _sessions(
    merchant: Merchant | None,
    customer: str | None,
    since: datetime | None,
    until: datetime | None,
) -> sa.Select[tuple[CancelSession]]:
    query = sa.select(CancelSession).order_by(CancelSession.id)
    if merchant is not None:
        query = query.where(CancelSession.merchant_id == merchant.id)
    if customer:
        query = query.where(CancelSession.customer_id == customer)
    if since is not None:
        query = query.where(CancelSession.created_at >= since)
    if until is not None:
        query = query.where(CancelSession.created_at < until)
    return query


def rows(
    merchant: Merchant | None,
    *,
    customer: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[dict[str, Any]], dict[int, str | None]]:
    """Every event of the chosen sessions, in the order recorded, and each session's head."""
    events: list[dict[str, Any]] = []
    heads: dict[int, str | None] = {}
    for session in db.session.scalars(_sessions(merchant, customer, since, until)):
        heads[session.id] = session.trail_head
        for event in db.session.scalars(
            sa.select(SessionEvent)
            .where(SessionEvent.session_id == session.id)
            .order_by(SessionEvent.id)
        ):
            events.append({**content(session, event.seq, event), "digest": event.digest})
    return events, heads


def filters(customer: str | None, since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """The export filters given (days without a zone are UTC days)."""
    chosen: dict[str, Any] = {}
    if customer:
        chosen["customer"] = customer.strip()
    for name, day in (("since", since), ("until", until)):
        if day is not None:
            chosen[name] = day if day.tzinfo is not None else day.replace(tzinfo=UTC)
    return chosen


def verify_stored(merchant: Merchant | None = None) -> Verdict:
    events, heads = rows(merchant)
    return verify(events, heads)


def export_json(merchant: Merchant, **filters: Any) -> str:
    events, heads = rows(merchant, **filters)
    document = {
        "merchant": merchant.slug,
        "generated_at": timestamp(utcnow()),
        "filters": {
            k: (timestamp(v) if isinstance(v, datetime) else v) for k, v in filters.items()
        },
        "algorithm": "sha256(previous digest + '\\n' + canonical JSON of session, customer, "
        "subscription, seq, kind, at, data); the first event chains to ''",
        "heads": {str(k): v for k, v in heads.items()},
        "events": events,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def export_csv(merchant: Merchant, **filters: Any) -> str:
    events, heads = rows(merchant, **filters)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow((*CSV_COLUMNS, CSV_HEAD))
    for event in events:
        data = json.dumps(event["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        values = [event[c] if c != "data" else data for c in CSV_COLUMNS]
        writer.writerow([*("" if v is None else v for v in values), heads[event["session"]] or ""])
    return out.getvalue()


def parse_export(text: str) -> tuple[list[dict[str, Any]], dict[int, str | None]]:
    """The events and heads of an export (JSON or CSV), to verify it away from the database."""
    if text.lstrip().startswith("{"):
        document = json.loads(text)
        heads = {int(k): v for k, v in document.get("heads", {}).items()}
        return list(document.get("events", [])), heads
    events: list[dict[str, Any]] = []
    heads_csv: dict[int, str | None] = {}
    for raw in csv.DictReader(io.StringIO(text)):
        session = int(raw["session"])
        heads_csv[session] = raw.get(CSV_HEAD) or None
        events.append(_csv_event(raw, session))
    return events, heads_csv


def _csv_event(raw: Mapping[str, str], session: int) -> dict[str, Any]:
    return {
        "session": session,
        "customer": raw["customer"],
        "subscription": raw["subscription"],
        "seq": int(raw["seq"]) if raw.get("seq") else None,
        "kind": raw["kind"],
        "at": raw["at"],
        "data": json.loads(raw["data"] or "{}"),
        "digest": raw.get("digest") or None,
    }


def describe(verdict: Verdict, breaks: Iterable[Any] | None = None) -> list[str]:
    """Lines for a person: the figures, then each session's first broken link."""
    lines = [f"{verdict.events} events in {verdict.sessions} sessions checked"]
    lines += [f"BROKEN: {b}" for b in (breaks if breaks is not None else verdict.breaks)]
    return lines
