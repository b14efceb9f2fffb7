"""Stepping through the flow: one posted step applied to the session's state (no Stripe write)."""

from __future__ import annotations

from cancelpage import flows, i18n
from cancelpage.cancel_sessions.opening import flow_of, record, snapshot_of
from cancelpage.extensions import db
from cancelpage.models import (
    CancelSession,
)
from cancelpage.web.dbretry import retrying


def advance(session: CancelSession, step: str, form: dict[str, str]) -> flows.Transition:
    """Apply one posted step to the session's state (no Stripe write here).

    Database-only, so a transient failure (locked, serialization) simply runs it again.
    """
    return retrying(lambda: _advance(session, step, form))


def _advance(session: CancelSession, step: str, form: dict[str, str]) -> flows.Transition:
    flow = flow_of(session)
    state = flows.State.from_dict(session.state)
    transition = flows.submit(
        flow,
        snapshot_of(session),
        state,
        step,
        form,
        customer_id=session.customer_id,
        one_step_cancel=flows.profile(session.compliance_profile).cancel_on_offer,
    )
    if transition.stale or transition.errors:
        return transition
    new = transition.state
    if step == "survey":
        session.reason = new.reason
        session.comment = new.comment or None
        record(session, "answered", reason=new.reason, comment=bool(new.comment))
        if transition.assignments:
            # Kept across answers: a customer who went back still saw the experiment's place.
            session.assignments = {**session.assignments, **transition.assignments}
            record(session, "assigned", arms=dict(transition.assignments))
    if transition.effect is None:
        if step == "offer" and form.get("action") == "decline":
            record(session, "offer_declined", offer=form.get("offer"))
        offer_id = new.current_offer_id()
        if new.step == "offer" and offer_id and offer_id != state.current_offer_id():
            record(session, "offer_shown", offer=offer_id)
            if offer_id not in session.offers_shown:
                session.offers_shown = [*session.offers_shown, offer_id]
        session.state = new.to_dict()
    db.session.commit()
    return transition


def choose_locale(session: CancelSession, tag: str | None) -> None:
    """The customer picked a language on the page: it wins over every other hint from now on."""
    code = i18n.supported(tag)
    if code is not None and code != session.locale:
        session.locale = code
        db.session.commit()
