"""Sessions pre-aggregated for the dashboard (models.SessionRollup): one row per merchant, day
opened and combination of the columns the dashboard filters and groups by, with the number of
sessions and their MRR.

Kept in step with cancel_session by the ORM itself: every flush that inserts, changes or deletes
a session moves it from its old cell to its new one in the same transaction (a session
opening, a survey answer, an offer shown, the outcome when it ends, the retention a status
change recomputes). So the dashboard's figures equal a recomputation from the sessions at
every commit; `rebuild` recomputes them (after a bulk load that bypasses the ORM, or an upgrade).

Claims still being filled in (an empty snapshot, see cancel_sessions.opening) are not counted:
they are deleted without the ORM when the first read of Stripe fails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite

from cancelpage.extensions import db
from cancelpage.models import CancelSession, SessionRollup

S = CancelSession
R = SessionRollup
# The session columns a cell is made of, in the digest's order (plus the day it opened).
COLUMNS = (
    "purpose",
    "preview",
    "plan",
    "reason",
    "outcome",
    "flow_version_id",
    "accepted_offer",
    "currency",
    "billing_interval",
    "billing_interval_count",
    "offers_shown",
    "assignments",
    "retained_30",
    "retained_60",
    "retained_90",
)
READ = (*COLUMNS, "merchant_id", "created_at", "mrr", "snapshot")
BATCH = 5000

Cell = tuple[int, date, str]  # merchant, day, digest of the dimensions
Dimensions = dict[str, Any]


def cell_of(values: Mapping[str, Any]) -> tuple[Cell, Dimensions, int] | None:
    """A session's cell, its dimensions and its MRR; None while it is a claim being filled in."""
    if not values["snapshot"] or values["created_at"] is None:
        return None
    dims = {name: values[name] for name in COLUMNS}
    dims["preview"] = bool(dims["preview"])
    dims["offers_shown"] = list(dims["offers_shown"] or [])
    dims["assignments"] = dict(sorted((dims["assignments"] or {}).items()))
    for days in (30, 60, 90):
        dims[f"retained_{days}"] = bool(dims[f"retained_{days}"])
    mrr = int(values["mrr"] or 0)
    dims["accepted_mrr"] = mrr if dims["outcome"] == "accepted" else None
    digest = hashlib.sha1(json.dumps(dims, sort_keys=True, default=str).encode()).hexdigest()
    return (int(values["merchant_id"]), values["created_at"].date(), digest), dims, mrr


# ---- kept in step by every flush -------------------------------------------------------------


def _old_values(session: so.Session, obj: CancelSession) -> dict[str, Any]:
    """The row as the database holds it before this flush."""
    state = sa.inspect(obj)
    values: dict[str, Any] = {}
    for name in READ:
        history = state.attrs[name].history
        if history.deleted:
            values[name] = history.deleted[0]
        elif history.unchanged:
            values[name] = history.unchanged[0]
        elif not history.added:
            values[name] = getattr(obj, name)  # not loaded, not changed: load it
        else:  # changed without its old value loaded: ask the database
            query = sa.select(*(getattr(S, c) for c in READ)).where(S.id == obj.id)
            return dict(session.connection().execute(query).one()._mapping)
    return values


def before_flush(session: so.Session, _context: Any, _instances: Any) -> None:
    pending = session.info.setdefault("rollup_old", {})
    for obj in [*session.dirty, *session.deleted]:
        if (
            isinstance(obj, CancelSession)
            and obj not in pending
            and sa.inspect(obj).has_identity
            and (obj in session.deleted or session.is_modified(obj, include_collections=False))
        ):
            pending[obj] = cell_of(_old_values(session, obj))
    for obj in session.new:
        if isinstance(obj, CancelSession):
            pending.setdefault(obj, None)


def after_flush(session: so.Session, _context: Any) -> None:
    """Each flushed session's move from its old cell to its new one."""
    pending: dict[CancelSession, Any] = session.info.pop("rollup_old", {})
    changes: dict[Cell, list[int]] = session.info.setdefault("rollup_changes", {})
    cells: dict[Cell, Dimensions] = session.info.setdefault("rollup_cells", {})
    for obj, old in pending.items():
        gone = obj in session.deleted or sa.inspect(obj).was_deleted
        new = None if gone else cell_of({name: getattr(obj, name) for name in READ})
        if old == new:
            continue
        for found, sign in ((old, -1), (new, 1)):
            if found is not None:
                cell, dims, mrr = found
                cells[cell] = dims
                totals = changes.setdefault(cell, [0, 0])
                totals[0] += sign
                totals[1] += sign * mrr


def write_changes(session: so.Session, _context: Any) -> None:
    """The flush's moves in one statement, in one order of cells for every writer (fewer lock
    waits in a cycle between two transactions on PostgreSQL), visible to the transaction's own
    reads at once."""
    changes: dict[Cell, list[int]] = session.info.pop("rollup_changes", {})
    cells: dict[Cell, Dimensions] = session.info.pop("rollup_cells", {})
    rows = [
        _row(cell, cells[cell], n, mrr) for cell, (n, mrr) in sorted(changes.items()) if n or mrr
    ]
    if rows:
        session.connection().execute(_upsert(session.connection().dialect.name, rows))


def after_rollback(session: so.Session) -> None:
    for key in ("rollup_old", "rollup_changes", "rollup_cells"):
        session.info.pop(key, None)


def _row(cell: Cell, dims: Dimensions, sessions: int, mrr: int) -> dict[str, Any]:
    merchant_id, day, digest = cell
    return {
        "merchant_id": merchant_id,
        "day": day,
        "dimensions": digest,
        **dims,
        "sessions": sessions,
        "mrr": mrr,
    }


def _upsert(dialect: str, rows: list[dict[str, Any]]) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(R).values(rows)
    return statement.on_conflict_do_update(
        index_elements=[R.merchant_id, R.day, R.dimensions],
        set_={
            "sessions": R.sessions + statement.excluded.sessions,
            "mrr": R.mrr + statement.excluded.mrr,
        },
    )


def init() -> None:
    """Listen to every ORM session's flushes (once per process)."""
    if not sa.event.contains(so.Session, "before_flush", before_flush):
        sa.event.listen(so.Session, "before_flush", before_flush)
        sa.event.listen(so.Session, "after_flush", after_flush)
        sa.event.listen(so.Session, "after_flush", write_changes)
        sa.event.listen(so.Session, "after_soft_rollback", lambda s, _previous: after_rollback(s))


# ---- rebuilt from the sessions -----------------------------------------------------------------


def recompute(merchant_id: int | None = None) -> dict[Cell, tuple[Dimensions, int, int]]:
    """Every cell as the sessions make it now: {cell: (dimensions, sessions, MRR)}."""
    query = sa.select(*(getattr(S, c) for c in READ))
    if merchant_id is not None:
        query = query.where(S.merchant_id == merchant_id)
    cells: dict[Cell, list[Any]] = {}
    result = db.session.execute(query.execution_options(yield_per=BATCH))
    for row in result.mappings():
        found = cell_of(row)
        if found is None:
            continue
        cell, dims, mrr = found
        totals = cells.setdefault(cell, [dims, 0, 0])
        totals[1] += 1
        totals[2] += mrr
    return {cell: (dims, n, mrr) for cell, (dims, n, mrr) in cells.items()}


def stored(merchant_id: int | None = None) -> dict[Cell, tuple[int, int]]:
    """The cells as kept (empty ones left out): {cell: (sessions, MRR)}."""
    query = sa.select(R.merchant_id, R.day, R.dimensions, R.sessions, R.mrr).where(R.sessions != 0)
    if merchant_id is not None:
        query = query.where(R.merchant_id == merchant_id)
    return {
        (m, day, digest): (int(n), int(mrr)) for m, day, digest, n, mrr in db.session.execute(query)
    }


def rebuild(merchant_id: int | None = None) -> int:
    """Replace the rollups (of one merchant, or all) with a recomputation; returns the number
    of cells. Caller commits."""
    cells = recompute(merchant_id)
    delete = sa.delete(R)
    if merchant_id is not None:
        delete = delete.where(R.merchant_id == merchant_id)
    db.session.execute(delete)
    rows = [_row(cell, dims, n, mrr) for cell, (dims, n, mrr) in sorted(cells.items())]
    for start in range(0, len(rows), BATCH):
        db.session.execute(sa.insert(R), rows[start : start + BATCH])
    return len(rows)


def differences(merchant_id: int | None = None) -> list[str]:
    """Cells where the rollups and a recomputation from the sessions disagree (none: in step)."""
    kept = stored(merchant_id)
    fresh = {cell: (n, mrr) for cell, (_dims, n, mrr) in recompute(merchant_id).items()}
    return [
        f"{cell}: kept {kept.get(cell)}, sessions say {fresh.get(cell)}"
        for cell in sorted(set(kept) | set(fresh))
        if kept.get(cell) != fresh.get(cell)
    ]
