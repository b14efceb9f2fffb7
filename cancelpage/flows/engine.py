"""The cancel-flow state machine: survey -> offer(s) -> confirm -> done, as pure functions.

submit() never performs anything itself: it returns the new state and, at most, one Effect that
the view carries out (through the billing gateway) before calling complete().
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from .model import Flow, Snapshot
from .offers import Offer
from .targeting import assign_offers, offer_applies

STEPS: tuple[str, ...] = ("survey", "offer", "confirm", "done")
MAX_COMMENT = 2000

# Steps from which each posted step is accepted. The survey stays reachable from later steps so
# that the browser's back button works; the confirm step only answers its own form.
_ACCEPTED_FROM: dict[str, tuple[str, ...]] = {
    "survey": ("survey", "offer", "confirm"),
    "offer": ("offer", "confirm"),
    "confirm": ("confirm",),
}
_SKIP_ACTIONS = ("skip", "cancel_now")


@dataclass
class State:
    """Where a cancel session is; stored with the session as to_dict()."""

    step: str = "survey"
    reason: str | None = None
    comment: str = ""
    offer_ids: list[str] = field(default_factory=list)
    offer_index: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "step": self.step,
            "reason": self.reason,
            "comment": self.comment,
            "offer_ids": list(self.offer_ids),
            "offer_index": self.offer_index,
        }

    @classmethod
    def from_dict(cls, data: Any) -> State:
        """Rebuild a state from stored data, falling back to defaults for missing or bad values."""
        if not isinstance(data, Mapping):
            return cls()
        step = data.get("step")
        reason = data.get("reason")
        comment = data.get("comment")
        offer_ids = data.get("offer_ids")
        index = data.get("offer_index")
        state = cls(
            step=step if isinstance(step, str) and step in STEPS else "survey",
            reason=reason if isinstance(reason, str) else None,
            comment=comment if isinstance(comment, str) else "",
            offer_ids=(
                [i for i in offer_ids if isinstance(i, str)]
                if isinstance(offer_ids, list | tuple)
                else []
            ),
            offer_index=index if isinstance(index, int) and not isinstance(index, bool) else 0,
        )
        if state.step == "offer" and state.current_offer_id() is None:
            # Nothing left to show: going on to the confirmation is the only sensible place.
            state.step = "confirm"
        return state

    def current_offer_id(self) -> str | None:
        """Id of the offer on screen, or None outside the offer step."""
        if self.step == "offer" and 0 <= self.offer_index < len(self.offer_ids):
            return self.offer_ids[self.offer_index]
        return None

    def copy(self) -> State:
        """An independent copy (offer_ids is a list)."""
        return replace(self, offer_ids=list(self.offer_ids))


@dataclass(frozen=True)
class AcceptOffer:
    """Apply this offer (offer.operation names the gateway method; None: nothing to write)."""

    offer: Offer


@dataclass(frozen=True)
class CancelSubscription:
    """Cancel, sending Stripe the feedback code of the chosen reason (None when skipped)."""

    feedback: str | None
    comment: str


@dataclass(frozen=True)
class KeepSubscription:
    """The customer changed their mind at the confirmation: nothing to write."""


Effect: TypeAlias = AcceptOffer | CancelSubscription | KeepSubscription


@dataclass(frozen=True)
class Transition:
    """The outcome of one form post."""

    state: State
    errors: dict[str, str] = field(default_factory=dict)
    effect: Effect | None = None
    stale: bool = False
    # Experiment arms entered by this post ({experiment id: arm}); only a survey post has any.
    assignments: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the post was taken: not stale and without errors."""
        return not self.stale and not self.errors


def clean_comment(text: str) -> str:
    """NFC-normalise, drop control characters except newline and tab, strip."""
    # Windows and old Mac line ends become newlines rather than vanishing with the other controls.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Lone surrogates (Cs) cannot be stored as UTF-8, so they go too.
    kept = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    # Normalise after dropping, so that a removed control cannot keep a letter and its accent apart.
    return unicodedata.normalize("NFC", kept).strip()


def complete(state: State) -> State:
    """A copy marked done; the view calls it once the effect has been carried out."""
    done = state.copy()
    done.step = "done"
    return done


def current_offer(flow: Flow, state: State) -> Offer | None:
    """The offer on screen, if it is still in the flow."""
    offer_id = state.current_offer_id()
    return None if offer_id is None else flow.offers.get(offer_id)


def _get(form: Mapping[str, str], key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _stale(state: State) -> Transition:
    return Transition(state.copy(), {}, None, stale=True)


def _submit_survey(
    flow: Flow,
    snapshot: Snapshot,
    state: State,
    form: Mapping[str, str],
    customer_id: str | None,
) -> Transition:
    comment = clean_comment(_get(form, "comment"))
    if _get(form, "action") in _SKIP_ACTIONS:
        # Leaving must never be blocked, so an over-long comment is cut rather than refused.
        return Transition(State(step="confirm", comment=comment[:MAX_COMMENT]))
    errors: dict[str, str] = {}
    reason = _get(form, "reason").strip()
    if not reason:
        errors["reason"] = "required"
    elif reason not in {r.code for r in flow.enabled_reasons()}:
        errors["reason"] = "unknown"
    if len(comment) > MAX_COMMENT:
        errors["comment"] = "too_long"
    if errors:
        return Transition(state.copy(), errors)
    offers, assignments = assign_offers(flow, reason, snapshot, customer_id)
    offer_ids = [offer.id for offer in offers]
    return Transition(
        State(
            step="offer" if offer_ids else "confirm",
            reason=reason,
            comment=comment,
            offer_ids=offer_ids,
        ),
        assignments=assignments,
    )


def _submit_offer(
    flow: Flow, snapshot: Snapshot, state: State, form: Mapping[str, str], one_step_cancel: bool
) -> Transition:
    offer_id = _get(form, "offer")
    if offer_id not in state.offer_ids:
        return _stale(state)  # an offer from another session or an older survey answer
    position = state.offer_ids.index(offer_id)
    action = _get(form, "action")
    if action == "accept":
        offer = flow.offers.get(offer_id)
        if offer is None:
            return _stale(state)  # the merchant removed it since the survey
        if not offer_applies(offer, snapshot):
            # Re-checked at the last moment: the subscription may have changed since the survey.
            return Transition(state.copy(), {"offer": "invalid"})
        return Transition(state.copy(), {}, AcceptOffer(offer))
    if action == "decline":
        following = position + 1
        if following < len(state.offer_ids):
            return Transition(replace(state.copy(), step="offer", offer_index=following))
        return Transition(replace(state.copy(), step="confirm"))
    if action == "cancel_now":
        return Transition(replace(state.copy(), step="confirm"))
    if action == "cancel" and one_step_cancel:  # a profile's one-step cancel beside the offer
        return _cancel(flow, state)
    return Transition(state.copy(), {"action": "invalid"})


def _cancel(flow: Flow, state: State) -> Transition:
    reason = flow.reason(state.reason) if state.reason is not None else None
    feedback = reason.feedback if reason is not None else None
    return Transition(state.copy(), {}, CancelSubscription(feedback, state.comment))


def _submit_confirm(flow: Flow, state: State, form: Mapping[str, str]) -> Transition:
    action = _get(form, "action")
    if action == "cancel":
        return _cancel(flow, state)
    if action == "keep":
        return Transition(state.copy(), {}, KeepSubscription())
    return Transition(state.copy(), {"action": "invalid"})


def submit(
    flow: Flow,
    snapshot: Snapshot,
    state: State,
    step: str,
    form: Mapping[str, str],
    customer_id: str | None = None,
    one_step_cancel: bool = False,
) -> Transition:
    """Apply one posted form (`step` names the form) to the state; never mutates `state`.

    `customer_id` (the Stripe customer) picks the customer's arm in the flow's experiments;
    `one_step_cancel` (a compliance profile's) lets an offer step's form cancel at once.
    """
    if state.step not in _ACCEPTED_FROM.get(step, ()):
        # Covers done sessions, unknown step names, and forms from a step not reached yet.
        return _stale(state)
    if step == "survey":
        return _submit_survey(flow, snapshot, state, form, customer_id)
    if step == "offer":
        return _submit_offer(flow, snapshot, state, form, one_step_cancel)
    return _submit_confirm(flow, state, form)
