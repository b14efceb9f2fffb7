"""Cancel sessions: one per signed link, stepped through the flow, ended by one Stripe write.

- ``opening``: find or create the session of a link, its snapshot, its events
- ``stepping``: apply a posted step to the session's state (no Stripe write)
- ``writes``: the write claim and the final Stripe write, exactly once
"""

from __future__ import annotations

from cancelpage.cancel_sessions.opening import (
    LinkRefused,
    by_capability,
    capability,
    ended,
    flow_of,
    live_snapshot,
    open_link,
    open_session,
    preview_snapshot,
    read_snapshot,
    record,
    snapshot_of,
    snapshot_to_dict,
)
from cancelpage.cancel_sessions.stepping import advance, choose_locale
from cancelpage.cancel_sessions.writes import (
    CLAIM_SECONDS,
    Intent,
    WriteResult,
    carry_out,
    claim,
    ensure_coupon,
    idempotency_key,
    in_flight,
    open_intent,
    portal_again,
    release,
    release_abandoned_claim,
    safe_return_url,
    settle,
    try_again,
    undo_cancel,
    undoable,
)

__all__ = [
    "CLAIM_SECONDS",
    "Intent",
    "LinkRefused",
    "WriteResult",
    "advance",
    "by_capability",
    "capability",
    "carry_out",
    "choose_locale",
    "claim",
    "ended",
    "ensure_coupon",
    "flow_of",
    "idempotency_key",
    "in_flight",
    "live_snapshot",
    "open_intent",
    "open_link",
    "open_session",
    "portal_again",
    "preview_snapshot",
    "read_snapshot",
    "record",
    "release",
    "release_abandoned_claim",
    "safe_return_url",
    "settle",
    "snapshot_of",
    "snapshot_to_dict",
    "try_again",
    "undo_cancel",
    "undoable",
]
