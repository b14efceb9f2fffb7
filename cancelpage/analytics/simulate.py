"""A simulated population of cancel sessions with known behaviour, for tests, the benchmark and
the demo dashboard (`flask --app cancelpage analytics simulate`), and failed invoices with known
outcomes for the dunning figures.

The generator is seeded and pure: it returns plain records saying what each customer did. Writing
them as rows is separate (`write_sessions` through the ORM, `session_rows` for bulk inserts).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cancelpage import flows
from cancelpage.analytics import record_subscription_status
from cancelpage.extensions import db
from cancelpage.models import CancelSession, RecoveryCase

# The simulated merchant's flow: the default offers plus a fixed-amount discount, and one
# experiment (the 25% discount against a holdout) leading the offers of every reason but "unused".
SIM_EXPERIMENT = "first_offer"


def simulation_flow() -> dict[str, Any]:
    data: dict[str, Any] = flows.flow_to_dict(flows.default_flow())
    data["offers"].append(
        {
            "id": "discount_10_fixed",
            "kind": "discount",
            "title": "$10 off your next invoice",
            "amount_off": 1000,
            "currency": "usd",
            "duration": "once",
        }
    )
    data["rules"] = [rule for rule in data["rules"] if rule["name"] == "Not using it"]
    data["default_offers"] = [
        {
            "experiment": SIM_EXPERIMENT,
            "variants": [{"offer": "discount_25_3m", "weight": 1}],
            "holdout": 0.5,
            "min_effect": 0.1,
        },
        "discount_10_fixed",
        "pause_1m",
    ]
    return data


PLANS: tuple[tuple[str, int, str, str, float], ...] = (
    # plan, amount per interval (minor units), currency, interval, weight
    ("Starter", 900, "usd", "month", 0.35),
    ("Pro", 2900, "usd", "month", 0.40),
    ("Pro yearly", 29000, "usd", "year", 0.15),
    ("Team", 7900, "eur", "month", 0.10),
)
REASON_WEIGHTS: dict[str, float] = {
    "too_expensive": 0.32,
    "unused": 0.22,
    "missing_features": 0.12,
    "switched_service": 0.10,
    "too_complex": 0.07,
    "low_quality": 0.05,
    "customer_service": 0.04,
    "other": 0.08,
}
COMMENTS: dict[str, tuple[str, ...]] = {
    "too_expensive": ("Price went up again", "Cheaper elsewhere", "Budget cuts this quarter"),
    "unused": ("Not using it since the project ended", "Forgot I had it"),
    "missing_features": ("No SSO", "Need an API for exports", "Missing Xero integration"),
    "switched_service": ("Moved to a competitor", "Team chose another tool"),
    "too_complex": ("Setup was confusing",),
    "low_quality": ("Too many bugs lately",),
    "customer_service": ("Support never answered",),
    "other": ("Closing the business", '=HYPERLINK("x")'),
}


@dataclass(frozen=True)
class Behaviour:
    """Known probabilities the population follows."""

    skip_survey: float = 0.08
    abandon: float = 0.06  # leaves at any step without an outcome
    accept: dict[str, float] = field(
        default_factory=lambda: {
            "discount_25_3m": 0.38,
            "discount_10_fixed": 0.30,
            "pause_1m": 0.22,
            "free_30d": 0.15,
        }
    )
    keep_at_confirm: float = 0.06
    portal: float = 0.10  # of cancels, handed to the portal
    comment: float = 0.35
    # Probability of churning within 30, 60 and 90 days (cumulative), by how the session ended.
    churn: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: {
            "discount_25_3m": (0.10, 0.25, 0.35),
            "discount_10_fixed": (0.15, 0.30, 0.40),
            "pause_1m": (0.05, 0.35, 0.45),
            "free_30d": (0.20, 0.40, 0.50),
            "kept": (0.08, 0.15, 0.20),
            "cancelled": (0.92, 0.97, 0.98),
            "open": (0.30, 0.40, 0.45),
        }
    )
    dunning_blip: float = 0.10  # past_due then active again: not churn
    unpaid_instead: float = 0.15  # churn shows as unpaid rather than canceled


@dataclass(frozen=True)
class SimSession:
    """What one simulated customer did; the ground truth the dashboard must reproduce."""

    index: int
    customer_id: str
    subscription_id: str
    created_at: datetime
    completed_at: datetime | None
    plan: str
    amount: int
    interval: str
    currency: str
    mrr: int
    reason: str | None
    comment: str | None
    offers_shown: tuple[str, ...]
    outcome: str | None
    accepted_offer: str | None
    assignments: dict[str, str]
    statuses: tuple[tuple[datetime, str], ...]  # webhook status changes known by `now`


def generate(
    count: int,
    now: datetime,
    seed: int,
    days: int = 91,
    behaviour: Behaviour | None = None,
    flow_data: dict[str, Any] | None = None,
) -> Iterator[SimSession]:
    """`count` sessions opened uniformly over the `days` before `now` (seeded, repeatable)."""
    behaviour = behaviour or Behaviour()
    flow = flows.parse_flow(flow_data or simulation_flow())
    rng = random.Random(seed)
    reasons = list(REASON_WEIGHTS)
    reason_weights = list(REASON_WEIGHTS.values())
    plan_weights = [p[4] for p in PLANS]
    span = days * 86400
    for i in range(count):
        created = now - timedelta(seconds=rng.randrange(1, span))
        customer = f"cus_sim{seed}_{i}"
        plan, amount, currency, interval, _ = rng.choices(PLANS, plan_weights)[0]
        mrr = flows.monthly_amount(amount, interval, 1)
        snapshot = flows.Snapshot(
            plan=plan, amount=amount, currency=currency, interval=interval, mrr=mrr
        )
        reason = (
            None
            if rng.random() < behaviour.skip_survey
            else rng.choices(reasons, reason_weights)[0]
        )
        comment = None
        if reason is not None and rng.random() < behaviour.comment:
            comment = rng.choice(COMMENTS[reason])
        offers, assignments = flows.assign_offers(flow, reason, snapshot, customer)
        shown: list[str] = []
        outcome: str | None = None
        accepted: str | None = None
        abandoned = False
        for offer in offers:
            if rng.random() < behaviour.abandon:
                abandoned = True
                break
            shown.append(offer.id)
            if rng.random() < behaviour.accept[offer.id]:
                outcome, accepted = "accepted", offer.id
                break
        if outcome is None and not abandoned and rng.random() >= behaviour.abandon:
            if rng.random() < behaviour.keep_at_confirm:
                outcome = "kept"
            else:
                outcome = "portal" if rng.random() < behaviour.portal else "canceled"
        completed = created + timedelta(seconds=rng.randrange(30, 900)) if outcome else None
        ended_as = accepted or ("kept" if outcome == "kept" else "cancelled" if outcome else "open")
        statuses = _statuses(rng, behaviour, behaviour.churn[ended_as], created, now)
        yield SimSession(
            index=i,
            customer_id=customer,
            subscription_id=f"sub_sim{seed}_{i}",
            created_at=created,
            completed_at=completed,
            plan=plan,
            amount=amount,
            interval=interval,
            currency=currency,
            mrr=mrr,
            reason=reason,
            comment=comment,
            offers_shown=tuple(shown),
            outcome=outcome,
            accepted_offer=accepted,
            assignments=assignments,
            statuses=statuses,
        )


def _statuses(
    rng: random.Random,
    behaviour: Behaviour,
    churn: tuple[float, float, float],
    created: datetime,
    now: datetime,
) -> tuple[tuple[datetime, str], ...]:
    """Status changes after the session: maybe a payment blip, maybe the end, up to `now`."""
    changes: list[tuple[datetime, str]] = []
    if rng.random() < behaviour.dunning_blip:
        start = created + timedelta(days=rng.uniform(1, 80))
        changes += [(start, "past_due"), (start + timedelta(days=rng.uniform(0.5, 5)), "active")]
    u = rng.random()
    bounds = (0, 30, 60, 90)
    for window, cumulative in enumerate(churn):
        if u < cumulative:
            day = rng.uniform(bounds[window], bounds[window + 1])
            status = "unpaid" if rng.random() < behaviour.unpaid_instead else "canceled"
            changes.append((created + timedelta(days=day), status))
            break
    changes.sort()
    return tuple(
        (moment.replace(microsecond=0), status) for moment, status in changes if moment <= now
    )


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def snapshot_of(sim: SimSession) -> dict[str, Any]:
    snapshot = flows.Snapshot(
        plan=sim.plan,
        price_id=f"price_{sim.plan.lower().replace(' ', '_')}",
        amount=sim.amount,
        currency=sim.currency,
        interval=sim.interval,
        mrr=sim.mrr,
        tenure_days=200,
    )
    data = {f: getattr(snapshot, f) for f in snapshot.__dataclass_fields__}
    data["attributes"] = {}
    return {**data, "item_id": "si_sim", "preferred_locales": []}


def session_row(
    sim: SimSession, merchant_id: int, version_id: int | None, tag: str
) -> dict[str, Any]:
    """The cancel_session columns of a simulated session (for ORM and bulk inserts alike)."""
    state = flows.State(
        step="done" if sim.outcome else "survey",
        reason=sim.reason,
        comment=sim.comment or "",
        offer_ids=list(sim.offers_shown),
    )
    return {
        "merchant_id": merchant_id,
        "link_digest": digest(f"link|{tag}|{sim.index}"),
        "capability_digest": digest(f"cap|{tag}|{sim.index}"),
        "purpose": "cancel",
        "customer_id": sim.customer_id,
        "subscription_id": sim.subscription_id,
        "attributes": {},
        "live": False,
        "snapshot": snapshot_of(sim),
        "state": state.to_dict(),
        "flow_version_id": version_id,
        "reason": sim.reason,
        "comment": sim.comment,
        "offers_shown": list(sim.offers_shown),
        "outcome": sim.outcome,
        "accepted_offer": sim.accepted_offer,
        "outcome_detail": {},
        "created_at": sim.created_at,
        "completed_at": sim.completed_at,
        "assignments": dict(sim.assignments),
        "plan": sim.plan,
        "mrr": sim.mrr,
        "currency": sim.currency,
        "billing_interval": sim.interval,
        "billing_interval_count": 1,
    }


def write_sessions(
    sims: list[SimSession], merchant_id: int, version_id: int | None, tag: str, seed: int = 0
) -> None:
    """Insert the sessions through the ORM, then report their status changes as webhooks would,
    in shuffled order (retention must not depend on the order they arrive in). Caller commits."""
    db.session.add_all(
        CancelSession(**session_row(sim, merchant_id, version_id, tag)) for sim in sims
    )
    db.session.flush()
    changes = [
        (sim.subscription_id, moment, status) for sim in sims for moment, status in sim.statuses
    ]
    random.Random(seed).shuffle(changes)
    for subscription_id, moment, status in changes:
        record_subscription_status(merchant_id, subscription_id, status, moment)


# ---- failed payments -------------------------------------------------------------------------


@dataclass(frozen=True)
class SimCase:
    """One simulated failed invoice and how it ended; the ground truth of the dunning figures."""

    index: int
    customer_id: str
    subscription_id: str
    invoice_id: str
    opened_at: datetime
    amount_due: int
    currency: str
    status: str  # open | recovered | lost, as of `now`
    closed_at: datetime | None
    amount_recovered: int | None  # what the invoice paid, when recovered


CASE_OUTCOMES = {"recovered": 0.55, "lost": 0.30}  # else still open by the end of the sequence
CASE_DAYS = {"recovered": (0.5, 14.0), "lost": (14.0, 30.0)}  # when the case closes, in days


def generate_cases(count: int, now: datetime, seed: int, days: int = 91) -> Iterator[SimCase]:
    """`count` failed invoices opened uniformly over the `days` before `now` (seeded). A case
    whose outcome would come after `now` is still open."""
    rng = random.Random(seed)
    plan_weights = [p[4] for p in PLANS]
    for i in range(count):
        opened = (now - timedelta(seconds=rng.randrange(1, days * 86400))).replace(microsecond=0)
        _, amount, currency, _, _ = rng.choices(PLANS, plan_weights)[0]
        u = rng.random()
        status = "recovered" if u < CASE_OUTCOMES["recovered"] else "open"
        if status == "open" and u < CASE_OUTCOMES["recovered"] + CASE_OUTCOMES["lost"]:
            status = "lost"
        closed = None
        if status != "open":
            closed = opened + timedelta(days=rng.uniform(*CASE_DAYS[status]))
            if closed > now:
                status, closed = "open", None
        yield SimCase(
            index=i,
            customer_id=f"cus_dun{seed}_{i}",
            subscription_id=f"sub_dun{seed}_{i}",
            invoice_id=f"in_dun{seed}_{i}",
            opened_at=opened,
            amount_due=amount,
            currency=currency,
            status=status,
            closed_at=closed.replace(microsecond=0) if closed else None,
            amount_recovered=amount if status == "recovered" else None,
        )


def case_row(case: SimCase, merchant_id: int, tag: str) -> dict[str, Any]:
    """The recovery_case columns of a simulated failed invoice (for ORM and bulk inserts); `tag`
    keeps the unique ref apart from earlier runs with the same seed."""
    reasons = {"recovered": "invoice paid", "lost": "invoice uncollectible", "open": None}
    return {
        "merchant_id": merchant_id,
        "kind": "payment_failed",
        "ref": f"{tag}:{case.invoice_id}",
        "customer_id": case.customer_id,
        "subscription_id": case.subscription_id,
        "invoice_id": case.invoice_id,
        "status": case.status,
        "amount_due": case.amount_due,
        "amount_recovered": case.amount_recovered,
        "currency": case.currency,
        "close_reason": reasons[case.status],
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
    }


def write_cases(cases: list[SimCase], merchant_id: int, tag: str) -> None:
    """Insert the failed invoices as recovery cases (no emails queued). Caller commits."""
    db.session.add_all(RecoveryCase(**case_row(case, merchant_id, tag)) for case in cases)
    db.session.flush()
