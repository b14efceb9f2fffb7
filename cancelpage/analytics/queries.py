"""Retention analytics for one merchant: the definitions, and the dashboard's queries (experiments
are reported in experiment_reports, failed payments in failed_payments, exports in exports).

Definitions (the dashboard states the same words):

* A **session** is one cancel session (one signed link, purpose "cancel"), dated by when it was
  opened, in UTC. Filters: date range (inclusive days), plan, reason, an offer that was shown, and
  an experiment (optionally one arm).
* **Saved**: the outcome is ``accepted`` (an offer was accepted) or ``kept`` (the customer kept the
  subscription at the confirmation, or undid a scheduled cancel). **Cancelled**: ``canceled`` or
  ``portal`` (handed to Stripe's portal to cancel). **Decided** = saved + cancelled; sessions with
  no outcome yet are **open** (in progress or abandoned). **Save rate** = saved / decided.
* **Saved MRR** is the monthly value kept right after the save, net of the offer, from the
  session's snapshot MRR (minor units, per currency): kept -> MRR; percent discount -> MRR x
  (1 - percent/100) while the discount runs; amount discount -> MRR minus the discount's monthly
  share (amount over the billing interval), at least 0; pause -> 0 during the pause; free period
  -> 0 during the free days; contact or link offers -> MRR (billing is unchanged); plan switch ->
  0, because the new price's amount is not known to cancelpage (so are offers whose terms cannot
  be found). Summed exactly, then rounded half
  up to the minor unit once per currency. The offer's terms are those of the flow version the
  session ran.
* **Retained at N days** (30, 60, 90): the subscription is still running N days after the session
  opened - its status then is not canceled, unpaid or incomplete_expired - as known: the
  snapshot's status at the session, overridden by each later status change reported by webhooks
  up to that day (record_subscription_status). Sessions younger than N days are left out of the
  denominator. **MRR retained at 30 days** of an offer: the snapshot MRR (list price, before the
  offer) of the sessions that accepted it and are retained at 30 days.
* **Experiments**: see cancelpage.analytics.stats for the decision rule.
* **Failed-payment recovery** (dunning): see failed_payments.dunning_summary; recovery rate =
  recovered / (recovered + lost) cases, open cases left out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import ColumnElement

from cancelpage import flows
from cancelpage.analytics import stats
from cancelpage.extensions import db
from cancelpage.merchants.store import load_flow
from cancelpage.models import (
    CancelSession,
    FlowVersion,
    Merchant,
    SubscriptionStatus,
)
from cancelpage.vocabulary import NOT_RETAINED_STATUSES

SAVED = ("accepted", "kept")
CANCELLED = ("canceled", "portal")
RETENTION_DAYS = (30, 60, 90)
DEFAULT_RANGE_DAYS = 91  # thirteen weeks: a quarter
MAX_RANGE_DAYS = 731
COMMENTS_PER_PAGE = 25
MAX_SEARCH = 200
SKIPPED = "(skipped)"  # the reason label of sessions that skipped the survey

S = CancelSession


# ---- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """One merchant's segment: a date range (inclusive, UTC days) and optional equality filters."""

    start: date
    end: date
    plan: str | None = None
    reason: str | None = None
    offer: str | None = None  # sessions that were shown this offer
    experiment: str | None = None
    arm: str | None = None  # only with experiment

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def end_at(self) -> datetime:
        """Exclusive upper bound: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    @classmethod
    def from_args(cls, args: Mapping[str, str], today: date) -> Filters:
        """Read query arguments; anything missing or malformed falls back to the last quarter."""
        end = _date(args.get("to")) or today
        start = _date(args.get("from")) or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if start > end or (end - start).days >= MAX_RANGE_DAYS:
            start = end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        experiment = _text(args.get("experiment"))
        return cls(
            start=start,
            end=end,
            plan=_text(args.get("plan")),
            reason=_text(args.get("reason")),
            offer=_text(args.get("offer")),
            experiment=experiment,
            arm=_text(args.get("arm")) if experiment else None,
        )

    def to_args(self) -> dict[str, str]:
        """Query arguments that reproduce these filters (for links and the CSV export)."""
        args = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        for key in ("plan", "reason", "offer", "experiment", "arm"):
            value = getattr(self, key)
            if value:
                args[key] = value
        return args


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:255] or None


def arm_of(experiment_id: str) -> ColumnElement[str]:
    """The session's arm in an experiment (NULL when it did not enter it)."""
    return S.assignments[experiment_id].as_string()


def real_sessions(merchant_id: int) -> list[ColumnElement[bool]]:
    """The merchant's cancel sessions that count: previews never do (previews_in counts them)."""
    return [S.merchant_id == merchant_id, S.purpose == "cancel", S.preview.is_(False)]


def previews_in(merchant_id: int, f: Filters) -> int:
    """Preview sessions ("preview as a customer", preview links) opened in the date range."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count()).where(
                S.merchant_id == merchant_id,
                S.preview.is_(True),
                S.created_at >= f.start_at,
                S.created_at < f.end_at,
            )
        )
        or 0
    )


def session_where(merchant_id: int, f: Filters) -> list[ColumnElement[bool]]:
    conditions = [
        *real_sessions(merchant_id),
        S.created_at >= f.start_at,
        S.created_at < f.end_at,
    ]
    if f.plan:
        conditions.append(S.plan == f.plan)
    if f.reason:
        conditions.append(S.reason.is_(None) if f.reason == SKIPPED else S.reason == f.reason)
    if f.offer:
        # offers_shown is a JSON list of ids: match the quoted id, LIKE wildcards escaped.
        shown = sa.cast(S.offers_shown, sa.Text)
        conditions.append(shown.contains(json.dumps(f.offer), autoescape=True))
    if f.experiment:
        arm = arm_of(f.experiment)
        conditions.append(arm == f.arm if f.arm else arm.is_not(None))
    return conditions


def outcome_category(outcome: str | None) -> str:
    if outcome in SAVED:
        return "saved"
    if outcome in CANCELLED:
        return "cancelled"
    return "open"


def matured_by(now: datetime, days: int) -> ColumnElement[bool]:
    return S.created_at <= now - timedelta(days=days)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# ---- saved MRR -------------------------------------------------------------------------------


def round_minor(value: Fraction) -> int:
    """Half up, as money is rounded on invoices."""
    return int((value + Fraction(1, 2)).__floor__())


@dataclass(frozen=True)
class OutcomeGroup:
    """Sessions sharing outcome, flow version, accepted offer and currency, with their kept MRR."""

    outcome: str | None
    version_id: int | None
    offer_id: str | None
    currency: str
    plan: str | None
    sessions: int
    kept_mrr: Fraction


def outcome_groups(merchant: Merchant, f: Filters) -> list[OutcomeGroup]:
    """The segment grouped by outcome, with saved MRR worked out per the definition above.

    One read: sessions that took an amount discount are further grouped by MRR and billing
    interval (their kept MRR is not proportional to MRR); every other group is summed whole."""
    amount_off = S.accepted_offer.in_(amount_off_offer_ids(merchant)) & (S.outcome == "accepted")
    per_price = [
        sa.case((amount_off, column), else_=None)
        for column in (S.mrr, S.billing_interval, S.billing_interval_count)
    ]
    keys = (S.outcome, S.flow_version_id, S.accepted_offer, S.currency, S.plan, *per_price)
    rows = db.session.execute(
        sa.select(*keys, sa.func.count(), sa.func.sum(S.mrr))
        .where(*session_where(merchant.id, f))
        .group_by(*keys)
    ).all()
    groups = []
    for row in rows:
        outcome, version_id, offer_id, currency, plan, mrr, interval, interval_count = row[:8]
        n, mrr_sum = row[8:]
        kept = Fraction(0)
        if outcome == "kept":
            kept = Fraction(int(mrr_sum or 0))
        elif outcome == "accepted":
            offer = load_flow(merchant, version_id).offers.get(offer_id or "")
            # An offer no longer found in its flow version kept nothing that can be shown.
            share = offer.kept_share() if offer is not None else Fraction(0)
            if share is not None:
                kept = share * int(mrr_sum or 0)
            elif offer is not None:
                kept = offer.kept_mrr(int(mrr or 0), currency, interval, interval_count) * n
        groups.append(OutcomeGroup(outcome, version_id, offer_id, currency, plan, n, kept))
    return groups


def amount_off_offer_ids(merchant: Merchant) -> list[str]:
    """Ids that name an amount discount in any of the merchant's flow versions."""
    versions = db.session.scalars(
        sa.select(FlowVersion.id).where(FlowVersion.merchant_id == merchant.id)
    )
    return sorted(
        {
            offer.id
            for version_id in versions
            for offer in load_flow(merchant, version_id).offers.values()
            if offer.kept_share() is None
        }
    )


def add_money(totals: dict[str, Fraction], currency: str, amount: Fraction) -> None:
    totals[currency] = totals.get(currency, Fraction(0)) + amount


def rounded(totals: Mapping[str, Fraction]) -> dict[str, int]:
    return {currency: round_minor(v) for currency, v in sorted(totals.items()) if v}


# ---- overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    sessions: int
    saved: int
    cancelled: int
    saved_mrr: dict[str, int]  # currency -> minor units

    @property
    def decided(self) -> int:
        return self.saved + self.cancelled

    @property
    def open(self) -> int:
        return self.sessions - self.decided

    @property
    def save_rate(self) -> stats.Proportion:
        return stats.Proportion(self.saved, self.decided)


def overview(merchant: Merchant, f: Filters, groups: list[OutcomeGroup] | None = None) -> Overview:
    """Sessions, saves, cancels and saved MRR of a segment (from `groups` when already read)."""
    counts: dict[str, int] = defaultdict(int)
    saved_mrr: dict[str, Fraction] = {}
    for group in outcome_groups(merchant, f) if groups is None else groups:
        counts[outcome_category(group.outcome)] += group.sessions
        add_money(saved_mrr, group.currency, group.kept_mrr)
    return Overview(
        sessions=sum(counts.values()),
        saved=counts["saved"],
        cancelled=counts["cancelled"],
        saved_mrr=rounded(saved_mrr),
    )


# ---- retention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    """Retained at N days, of all sessions and of saved sessions old enough to tell."""

    days: int
    all: stats.Proportion
    saved: stats.Proportion


def retention(merchant_id: int, f: Filters, now: datetime) -> list[Retention]:
    """Retained-30/60/90 of a segment, as known at `now`."""
    saved = S.outcome.in_(SAVED)
    columns: list[ColumnElement[int]] = []
    for days in RETENTION_DAYS:
        matured = matured_by(now, days)
        kept = getattr(S, f"retained_{days}").is_(True)
        columns += [
            count_if(matured),
            count_if(sa.and_(matured, kept)),
            count_if(sa.and_(matured, saved)),
            count_if(sa.and_(matured, saved, kept)),
        ]
    row = db.session.execute(sa.select(*columns).where(*session_where(merchant_id, f))).one()
    out = []
    for i, days in enumerate(RETENTION_DAYS):
        matured_n, kept_n, saved_n, saved_kept_n = (int(v) for v in row[4 * i : 4 * i + 4])
        out.append(
            Retention(
                days, stats.Proportion(kept_n, matured_n), stats.Proportion(saved_kept_n, saved_n)
            )
        )
    return out


def record_subscription_status(
    merchant_id: int,
    subscription_id: str,
    status: str,
    changed_at: datetime,
    source: str = "webhook",
) -> bool:
    """Append one status change reported by a webhook and refresh the retention of the
    subscription's sessions. A repeat (same subscription, time and status) is ignored and returns
    False. Order-independent: a late, older change is placed where it belongs. Caller commits."""
    if changed_at.tzinfo is None:
        raise ValueError("naive datetime")
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = db.session.execute(
        insert(SubscriptionStatus)
        .values(
            merchant_id=merchant_id,
            subscription_id=subscription_id,
            status=status,
            changed_at=changed_at,
            recorded_at=datetime.now(UTC),
            source=source,
        )
        .on_conflict_do_nothing()
        .returning(SubscriptionStatus.id)
    )
    if result.first() is None:
        return False
    refresh_retention(merchant_id, subscription_id)
    return True


def record_flow_outcome(session: CancelSession) -> None:
    """The status the session's own successful write gave the subscription, so that retention
    never waits for a webhook: cancel now -> canceled now; cancel at period end -> canceled when
    the period ends; undo of a scheduled cancel or a pause -> active now (and a scheduled end the
    flow recorded earlier no longer holds). Previews change nothing. Caller commits."""
    if session.preview or session.completed_at is None:
        return
    now = session.completed_at
    sub = session.subscription_id
    detail = session.outcome_detail or {}
    scheduled = bool(session.snapshot.get("cancel_at_period_end"))
    if session.outcome == "canceled":
        ends_at = detail.get("ends_at")
        ends = datetime.fromtimestamp(int(ends_at), UTC) if ends_at else now
        record_subscription_status(session.merchant_id, sub, "canceled", max(ends, now), "flow")
        return
    offer_kind = (
        flows.OFFER_TYPES.get(str(detail.get("kind"))) if session.outcome == "accepted" else None
    )
    paused = offer_kind is flows.PauseOffer
    # The flow undoes a scheduled cancel when the customer keeps, or accepts an offer that
    # writes to Stripe (cancel_sessions.writes).
    undone = bool(detail.get("undone")) or (
        scheduled
        and (
            session.outcome == "kept"
            or (offer_kind is not None and offer_kind.operation is not None)
        )
    )
    if not (paused or undone):
        return
    db.session.execute(
        sa.delete(SubscriptionStatus).where(
            SubscriptionStatus.merchant_id == session.merchant_id,
            SubscriptionStatus.subscription_id == sub,
            SubscriptionStatus.source == "flow",
            SubscriptionStatus.changed_at > now,
        )
    )
    if not record_subscription_status(session.merchant_id, sub, "active", now, "flow"):
        refresh_retention(session.merchant_id, sub)


def refresh_retention(merchant_id: int, subscription_id: str) -> None:
    """Recompute retained_30/60/90 of every session of a subscription from its status history."""
    history = db.session.execute(
        sa.select(SubscriptionStatus.changed_at, SubscriptionStatus.status)
        .where(
            SubscriptionStatus.merchant_id == merchant_id,
            SubscriptionStatus.subscription_id == subscription_id,
        )
        .order_by(SubscriptionStatus.changed_at, SubscriptionStatus.id)
    ).all()
    sessions = db.session.scalars(
        sa.select(S).where(S.merchant_id == merchant_id, S.subscription_id == subscription_id)
    )
    for session in sessions:
        for days in RETENTION_DAYS:
            running = retained_at(
                session.created_at,
                str(session.snapshot.get("status", "active")),
                history,
                session.created_at + timedelta(days=days),
            )
            setattr(session, f"retained_{days}", running)


def retained_at(
    opened_at: datetime,
    status_at_open: str,
    history: Iterable[tuple[datetime, str]],
    moment: datetime,
) -> bool:
    """Whether the subscription is running at `moment`: the last status known by then, where the
    snapshot counts as a status seen when the session opened and webhook changes from then on
    override it (history sorted by time; at equal times the later-recorded change wins)."""
    status = status_at_open
    for changed_at, changed_to in history:
        if opened_at <= changed_at <= moment:
            status = changed_to
    return status not in NOT_RETAINED_STATUSES


# ---- reasons and comments --------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonRow:
    code: str  # SKIPPED for sessions without an answer
    label: str
    sessions: int
    saved: int
    cancelled: int

    @property
    def save_rate(self) -> stats.Proportion:
        return stats.Proportion(self.saved, self.saved + self.cancelled)


def reasons(merchant: Merchant, f: Filters) -> list[ReasonRow]:
    """Why customers leave: sessions per reason, most frequent first."""
    rows = db.session.execute(
        sa.select(S.reason, S.outcome, sa.func.count())
        .where(*session_where(merchant.id, f))
        .group_by(S.reason, S.outcome)
    ).all()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for reason, outcome, count in rows:
        counts[reason or SKIPPED][outcome_category(outcome)] += count
    flow = load_flow(merchant, merchant.flow_version_id)
    out = []
    for code, by_category in counts.items():
        known = flow.reason(code)
        label = known.label if known else ("Skipped the survey" if code == SKIPPED else code)
        out.append(
            ReasonRow(
                code,
                label,
                sum(by_category.values()),
                by_category["saved"],
                by_category["cancelled"],
            )
        )
    return sorted(out, key=lambda r: (-r.sessions, r.code))


@dataclass(frozen=True)
class Comment:
    id: int
    created_at: datetime
    reason: str | None
    plan: str | None
    outcome: str | None
    comment: str


@dataclass(frozen=True)
class CommentPage:
    comments: list[Comment]
    next_before: int | None  # pass as `before` for the next (older) page


def comments(
    merchant_id: int,
    f: Filters,
    search: str = "",
    before: int | None = None,
    limit: int = COMMENTS_PER_PAGE,
) -> CommentPage:
    """Survey comments, newest first, optionally containing `search` (case-insensitive)."""
    conditions = [*session_where(merchant_id, f), S.comment.is_not(None)]
    search = search.strip()[:MAX_SEARCH]
    if search:
        conditions.append(sa.func.lower(S.comment).contains(search.lower(), autoescape=True))
    if before is not None:
        cursor = db.session.execute(
            sa.select(S.created_at, S.id).where(S.id == before, S.merchant_id == merchant_id)
        ).first()
        if cursor is not None:
            conditions.append(sa.tuple_(S.created_at, S.id) < sa.tuple_(cursor[0], cursor[1]))
    rows = db.session.execute(
        sa.select(S.id, S.created_at, S.reason, S.plan, S.outcome, S.comment)
        .where(*conditions)
        .order_by(S.created_at.desc(), S.id.desc())
        .limit(limit + 1)
    ).all()
    page = [Comment(*row) for row in rows[:limit]]
    return CommentPage(page, page[-1].id if len(rows) > limit else None)


# ---- offers ----------------------------------------------------------------------------------


@dataclass
class OfferRow:
    offer_id: str
    title: str
    shown: int = 0
    accepted: int = 0
    saved_mrr_exact: dict[str, Fraction] = field(default_factory=dict)
    matured_30: int = 0  # accepted sessions at least 30 days old
    retained_30: int = 0
    retained_mrr_30: dict[str, int] = field(default_factory=dict)

    @property
    def acceptance(self) -> stats.Proportion:
        return stats.Proportion(self.accepted, self.shown)

    @property
    def retention_30(self) -> stats.Proportion:
        return stats.Proportion(self.retained_30, self.matured_30)

    @property
    def saved_mrr(self) -> dict[str, int]:
        return rounded(self.saved_mrr_exact)


def offers(
    merchant: Merchant, f: Filters, now: datetime, groups: list[OutcomeGroup] | None = None
) -> list[OfferRow]:
    """Each offer's shown / accepted / acceptance rate, saved MRR and retention at 30 days
    (saved MRR from `groups` when already read)."""
    shown_text = sa.cast(S.offers_shown, sa.Text)
    matured = sa.case((matured_by(now, 30), 1), else_=0)
    accepted = sa.case((S.outcome == "accepted", S.accepted_offer), else_=None)
    rows = db.session.execute(
        sa.select(
            shown_text,
            accepted,
            S.currency,
            matured,
            S.retained_30,
            sa.func.count(),
            sa.func.sum(S.mrr),
        )
        .where(*session_where(merchant.id, f))
        .group_by(shown_text, accepted, S.currency, matured, S.retained_30)
    ).all()
    flow = load_flow(merchant, merchant.flow_version_id)
    table: dict[str, OfferRow] = {}

    def row_for(offer_id: str) -> OfferRow:
        if offer_id not in table:
            offer = flow.offers.get(offer_id)
            table[offer_id] = OfferRow(offer_id, offer.title if offer else offer_id)
        return table[offer_id]

    for text, accepted_id, currency, is_matured, retained, count, mrr_sum in rows:
        for offer_id in json.loads(text or "[]"):
            row_for(offer_id).shown += count
        if accepted_id is None:
            continue
        row = row_for(accepted_id)
        row.accepted += count
        if is_matured:
            row.matured_30 += count
            if retained:
                row.retained_30 += count
                row.retained_mrr_30[currency] = row.retained_mrr_30.get(currency, 0) + int(mrr_sum)
    for group in outcome_groups(merchant, f) if groups is None else groups:
        if group.outcome == "accepted" and group.offer_id is not None:
            add_money(row_for(group.offer_id).saved_mrr_exact, group.currency, group.kept_mrr)
    order = {offer_id: i for i, offer_id in enumerate(flow.offers)}
    return sorted(table.values(), key=lambda r: (order.get(r.offer_id, len(order)), r.offer_id))


def main_currency(groups: Iterable[OutcomeGroup]) -> str:
    """The currency most of the segment's sessions are billed in (amounts in different
    currencies cannot be compared); ties go to the first code in order, none to usd."""
    sessions: dict[str, int] = defaultdict(int)
    for group in groups:
        sessions[group.currency] += group.sessions
    return min(sessions, key=lambda c: (-sessions[c], c), default="usd")


def keeps_most_at_30(rows: list[OfferRow], currency: str) -> OfferRow | None:
    """The offer whose accepters keep the most MRR 30 days later, in one currency."""
    candidates = [r for r in rows if r.retained_mrr_30.get(currency)]
    return max(candidates, key=lambda r: r.retained_mrr_30[currency], default=None)


# ---- weekly trend ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    start: date  # a Monday
    sessions: int
    saved: int
    cancelled: int

    @property
    def save_rate(self) -> stats.Proportion:
        return stats.Proportion(self.saved, self.saved + self.cancelled)


def week_index(column: Any, f: Filters) -> tuple[date, int, ColumnElement[int]]:
    """The range's first Monday, its number of weeks (Monday to Sunday, UTC), and the index of
    the week `column` (a UTC datetime inside the range) falls in."""
    first_monday = f.start - timedelta(days=f.start.weekday())
    weeks = (f.end - first_monday).days // 7 + 1
    origin = datetime.combine(first_monday, time(), UTC)
    if weeks == 1:  # a CASE needs at least one WHEN
        return first_monday, weeks, sa.literal(0)
    # Plain comparisons with each week's end: the same on every engine, exact at the boundaries.
    week = sa.case(
        *((column < origin + timedelta(weeks=i + 1), i) for i in range(weeks - 1)),
        else_=weeks - 1,
    )
    return first_monday, weeks, week


def weekly(merchant_id: int, f: Filters) -> list[Week]:
    """Sessions, saves and cancels per week (Monday to Sunday, UTC) over the range, gaps as 0."""
    first_monday, weeks, week = week_index(S.created_at, f)
    rows = db.session.execute(
        sa.select(week, S.outcome, sa.func.count())
        .where(*session_where(merchant_id, f))
        .group_by(week, S.outcome)
    ).all()
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for index, outcome, count in rows:
        counts[int(index)][outcome_category(outcome)] += count
    return [
        Week(
            first_monday + timedelta(weeks=i),
            sum(counts[i].values()),
            counts[i]["saved"],
            counts[i]["cancelled"],
        )
        for i in range(weeks)
    ]
