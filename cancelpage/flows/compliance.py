"""Compliance profiles: how the cancel path is laid out for a customer, chosen by the country of
their Stripe customer address (else the merchant's default). Pure, like the rest of the engine.

- ``de`` (Germany, BGB § 312k): the cancel link opens the confirmation page at once, whose
  button says "Jetzt kündigen"; a save offer may stand beside it, never before it; the receipt
  goes out at once and states the date and time of the declaration, and cannot be switched off.
- ``us-ca`` (California, Bus. & Prof. Code § 17602 as amended by AB 2863; the FTC's ROSCA
  "simple mechanism"): every save offer is shown together with a one-step way to cancel.
- ``standard``: the flow as the merchant built it.

What the README's "Compliance profiles" section cites is what these choices rest on; this is
engineering, not legal advice.
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import State
from .model import Flow, Snapshot
from .offers import N_
from .targeting import offer_applies
from .terms import offer_shown


@dataclass(frozen=True)
class Profile:
    code: str
    label: str  # for the dashboard (English, like the rest of it)
    # The link opens the confirmation step; a save offer only beside the cancel button.
    confirm_first: bool = False
    # Every offer step carries a button that cancels in one step.
    cancel_on_offer: bool = False
    # A cancellation's receipt goes out whatever the merchant's setting, dated to the minute.
    receipt_required: bool = False


STANDARD = Profile("standard", "Standard (the flow as built)")
GERMANY = Profile("de", "Germany (BGB § 312k)", confirm_first=True, receipt_required=True)
CALIFORNIA = Profile("us-ca", "California (AB 2863)", cancel_on_offer=True)
PROFILES: dict[str, Profile] = {p.code: p for p in (STANDARD, GERMANY, CALIFORNIA)}
# The confirmation button under a profile that names it ("Jetzt kündigen" in German).
CANCEL_NOW_LABEL = N_("Cancel now")


def profile(code: str | None) -> Profile:
    """The profile of that code; the standard one for anything else."""
    return PROFILES.get(code or "", STANDARD)


def profile_for(country: str | None, region: str | None, default: str | None) -> Profile:
    """The profile for a customer: by their address's country (and US state), else the
    merchant's default when the country is unknown."""
    country = (country or "").strip().upper()
    if not country:
        return profile(default)
    if country == "DE":
        return GERMANY
    if country == "US" and (region or "").strip().upper() == "CA":
        return CALIFORNIA
    return STANDARD


def side_offer(flow: Flow, snapshot: Snapshot) -> str | None:
    """The offer a confirm-first page may show beside the cancel button: the flow's first default
    offer (a plain one: no experiment place) that applies to this subscription."""
    for slot in flow.default_offers:
        if not isinstance(slot, str):
            continue
        offer = flow.offers.get(slot)
        if offer is not None and offer_applies(offer, snapshot) and offer_shown(offer, snapshot):
            return offer.id
    return None


def opening_state(chosen: Profile, flow: Flow, snapshot: Snapshot) -> State:
    """Where a new session starts: the survey, or under a confirm-first profile the
    confirmation step (with the side offer, if any, as the session's one offer)."""
    if not chosen.confirm_first:
        return State()
    offer_id = side_offer(flow, snapshot)
    return State(step="confirm", offer_ids=[offer_id] if offer_id else [])
