"""The flow's state machine: survey, offers, confirmation, effects."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.flow_support import (
    DISCOUNT,
    FREE,
    PAUSE,
    PROPERTY,
    SWITCH,
    flow_of,
)

from cancelpage.flows import (
    MAX_COMMENT,
    STEPS,
    AcceptOffer,
    CancelSubscription,
    KeepSubscription,
    Rule,
    Snapshot,
    State,
    Transition,
    clean_comment,
    complete,
    current_offer,
    submit,
)

# --- the state machine ------------------------------------------------------------------------

ENGINE_FLOW = flow_of(
    DISCOUNT,
    PAUSE,
    FREE,
    SWITCH,
    rules=(
        Rule("price", reasons=("price",), offers=("disc", "pause", "free")),
        Rule("bored", reasons=("bored",), offers=()),
    ),
    cap=3,
)
LIVE = Snapshot()


def post(state: State, step: str, **form: str) -> Transition:
    """Submit a form and check that the input state was left alone."""
    before = state.to_dict()
    result = submit(ENGINE_FLOW, LIVE, state, step, form)
    assert state.to_dict() == before
    assert result.state is not state
    return result


def at_offer(index: int = 0) -> State:
    return State(
        step="offer",
        reason="price",
        comment="hi",
        offer_ids=["disc", "pause", "free"],
        offer_index=index,
    )


def at_confirm(reason: str | None = "price") -> State:
    return State(
        step="confirm",
        reason=reason,
        comment="bye",
        offer_ids=["disc", "pause", "free"],
        offer_index=2,
    )


def test_state_defaults_and_round_trip() -> None:
    assert State() == State("survey", None, "", [], 0)
    state = at_offer(1)
    assert state.to_dict() == {
        "step": "offer",
        "reason": "price",
        "comment": "hi",
        "offer_ids": ["disc", "pause", "free"],
        "offer_index": 1,
    }
    assert State.from_dict(state.to_dict()) == state


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, State()),
        ({}, State()),
        ("junk", State()),
        ({"step": "confirm"}, State(step="confirm")),
        (
            {
                "step": "flying",
                "reason": 3,
                "comment": None,
                "offer_ids": "abc",
                "offer_index": "1",
            },
            State(),
        ),
        ({"offer_ids": ["a", 2, "b"], "offer_index": True}, State(offer_ids=["a", "b"])),
        # An offer step without an offer to show goes on to the confirmation.
        (
            {"step": "offer", "offer_ids": ["a"], "offer_index": 5},
            State("confirm", None, "", ["a"], 5),
        ),
    ],
)
def test_state_from_dict_is_tolerant(data: Any, expected: State) -> None:
    assert State.from_dict(data) == expected


def test_current_offer_id() -> None:
    assert at_offer(0).current_offer_id() == "disc"
    assert at_offer(2).current_offer_id() == "free"
    assert at_offer(3).current_offer_id() is None
    assert at_confirm().current_offer_id() is None
    assert State().current_offer_id() is None
    assert current_offer(ENGINE_FLOW, at_offer(1)) is PAUSE
    assert current_offer(ENGINE_FLOW, State(step="offer", offer_ids=["gone"])) is None


def test_survey_with_offers_goes_to_the_first_offer() -> None:
    result = post(State(), "survey", reason="price", comment="  Too much\r\nmoney \x07 ")
    assert result == Transition(
        State("offer", "price", "Too much\nmoney", ["disc", "pause", "free"], 0), {}, None, False
    )
    assert result.ok


def test_survey_without_offers_goes_to_confirm() -> None:
    result = post(State(), "survey", reason="bored")
    assert result.state == State("confirm", "bored", "", [], 0)
    assert result.errors == {}
    assert result.effect is None


def test_survey_uses_the_snapshot_to_choose_offers() -> None:
    result = submit(ENGINE_FLOW, Snapshot(paused=True), State(), "survey", {"reason": "price"})
    assert result.state.offer_ids == ["disc", "free"]
    canceled = submit(
        ENGINE_FLOW, Snapshot(status="canceled"), State(), "survey", {"reason": "price"}
    )
    assert canceled.state.step == "confirm"
    assert canceled.state.offer_ids == []


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({}, {"reason": "required"}),
        ({"reason": ""}, {"reason": "required"}),
        ({"reason": "   "}, {"reason": "required"}),
        ({"reason": "nope"}, {"reason": "unknown"}),
        ({"reason": "old"}, {"reason": "unknown"}),  # disabled reasons are not offered
        ({"reason": "price", "comment": "x" * (MAX_COMMENT + 1)}, {"comment": "too_long"}),
        ({"comment": "x" * (MAX_COMMENT + 1)}, {"reason": "required", "comment": "too_long"}),
        (
            {"reason": "price", "action": "next", "comment": "y" * (MAX_COMMENT + 1)},
            {"comment": "too_long"},
        ),
    ],
)
def test_survey_errors_keep_the_state(form: dict[str, str], errors: dict[str, str]) -> None:
    state = State()
    result = post(state, "survey", **form)
    assert result == Transition(state, errors, None, False)
    assert not result.ok


def test_survey_errors_from_a_later_step_keep_that_step() -> None:
    result = post(at_offer(1), "survey", reason="nope")
    assert result.state == at_offer(1)
    assert result.errors == {"reason": "unknown"}


def test_comment_at_the_limit_is_accepted() -> None:
    result = post(State(), "survey", reason="price", comment=" " + "x" * MAX_COMMENT + "\n")
    assert result.errors == {}
    assert result.state.comment == "x" * MAX_COMMENT


@pytest.mark.parametrize("action", ["skip", "cancel_now"])
@pytest.mark.parametrize(
    "state", [State(), at_offer(1), at_confirm()], ids=["survey", "offer", "confirm"]
)
def test_skipping_the_survey_goes_straight_to_confirm(action: str, state: State) -> None:
    result = post(state, "survey", action=action, reason="price")
    assert result == Transition(State("confirm", None, "", [], 0), {}, None, False)


def test_skip_keeps_the_comment_but_never_blocks() -> None:
    result = post(State(), "survey", action="skip", comment="x" * (MAX_COMMENT + 50))
    assert result.errors == {}
    assert result.state.comment == "x" * MAX_COMMENT


@pytest.mark.parametrize("state", [at_offer(2), at_confirm("bored")], ids=["offer", "confirm"])
def test_resubmitted_survey_recomputes_offers_and_restarts(state: State) -> None:
    result = post(state, "survey", reason="price", comment="again")
    assert result.state == State("offer", "price", "again", ["disc", "pause", "free"], 0)
    assert post(at_offer(1), "survey", reason="bored").state == State("confirm", "bored", "", [], 0)


@pytest.mark.parametrize("state", [at_offer(0), at_confirm()], ids=["offer", "confirm"])
def test_accepting_an_offer_returns_the_effect_and_keeps_the_state(state: State) -> None:
    result = post(state, "offer", offer="pause", action="accept")
    assert result == Transition(state, {}, AcceptOffer(PAUSE), False)


def test_accepting_an_earlier_offer_after_back_button() -> None:
    result = post(at_offer(2), "offer", offer="disc", action="accept")
    assert result.effect == AcceptOffer(DISCOUNT)
    assert result.state == at_offer(2)


@pytest.mark.parametrize(
    "form",
    [
        {"offer": "switch", "action": "accept"},  # in the flow, but not chosen for this session
        {"offer": "ghost", "action": "decline"},
        {"action": "accept"},
        {"offer": "", "action": "cancel_now"},
    ],
)
def test_offer_posts_for_offers_not_in_the_session_are_stale(form: dict[str, str]) -> None:
    assert post(at_offer(0), "offer", **form) == Transition(at_offer(0), {}, None, True)


def test_accepting_an_offer_removed_from_the_flow_is_stale() -> None:
    state = State(step="offer", reason="price", offer_ids=["gone", "disc"])
    assert post(state, "offer", offer="gone", action="accept").stale
    # Declining it still moves on.
    assert post(state, "offer", offer="gone", action="decline").state.current_offer_id() == "disc"


def test_accepting_an_offer_that_no_longer_applies_is_refused() -> None:
    result = submit(
        ENGINE_FLOW,
        Snapshot(paused=True),
        at_offer(1),
        "offer",
        {"offer": "pause", "action": "accept"},
    )
    assert result == Transition(at_offer(1), {"offer": "invalid"}, None, False)


def test_declining_shows_the_next_offer_then_confirm() -> None:
    first = post(at_offer(0), "offer", offer="disc", action="decline")
    assert first.state == at_offer(1)
    assert first.effect is None
    assert first.errors == {}
    second = post(first.state, "offer", offer="pause", action="decline")
    assert second.state == at_offer(2)
    last = post(second.state, "offer", offer="free", action="decline")
    assert last.state == State("confirm", "price", "hi", ["disc", "pause", "free"], 2)


def test_declining_follows_the_posted_offer_not_the_stored_index() -> None:
    # Back button: the customer is shown offer 0 again while the session is at offer 2.
    assert post(at_offer(2), "offer", offer="disc", action="decline").state == at_offer(1)
    # From the confirmation, going back and declining the middle offer shows the last one.
    assert post(at_confirm(), "offer", offer="pause", action="decline").state == State(
        "offer", "price", "bye", ["disc", "pause", "free"], 2
    )


def test_cancel_now_from_an_offer_goes_to_confirm() -> None:
    result = post(at_offer(0), "offer", offer="disc", action="cancel_now")
    assert result == Transition(
        State("confirm", "price", "hi", ["disc", "pause", "free"], 0), {}, None, False
    )


@pytest.mark.parametrize("action", ["", "maybe", "cancel"])
def test_offer_post_with_a_bad_action_is_an_error(action: str) -> None:
    assert post(at_offer(1), "offer", offer="pause", action=action) == Transition(
        at_offer(1), {"action": "invalid"}, None, False
    )
    assert post(at_offer(1), "offer", offer="pause").errors == {"action": "invalid"}


def test_offer_post_before_the_survey_is_stale() -> None:
    state = State(offer_ids=["disc"])
    assert post(state, "offer", offer="disc", action="accept") == Transition(state, {}, None, True)


def test_confirm_cancel_sends_the_stripe_feedback_of_the_reason() -> None:
    result = post(at_confirm("price"), "confirm", action="cancel")
    assert result == Transition(
        at_confirm("price"), {}, CancelSubscription("too_expensive", "bye"), False
    )


def test_confirm_cancel_after_skip_sends_no_feedback() -> None:
    state = State(step="confirm", comment="just go")
    assert post(state, "confirm", action="cancel").effect == CancelSubscription(None, "just go")


def test_confirm_cancel_with_a_reason_since_removed_sends_no_feedback() -> None:
    assert post(at_confirm("vanished"), "confirm", action="cancel").effect == CancelSubscription(
        None, "bye"
    )


def test_confirm_keep() -> None:
    assert post(at_confirm(), "confirm", action="keep") == Transition(
        at_confirm(), {}, KeepSubscription(), False
    )


@pytest.mark.parametrize("form", [{}, {"action": "accept"}, {"action": "CANCEL"}])
def test_confirm_with_a_bad_action_is_an_error(form: dict[str, str]) -> None:
    assert post(at_confirm(), "confirm", **form) == Transition(
        at_confirm(), {"action": "invalid"}, None, False
    )


@pytest.mark.parametrize("state", [State(), at_offer(0)], ids=["survey", "offer"])
def test_confirm_post_before_reaching_confirm_is_stale(state: State) -> None:
    assert post(state, "confirm", action="cancel") == Transition(state, {}, None, True)


@pytest.mark.parametrize("step", [*STEPS, "unknown"])
@pytest.mark.parametrize(
    "form",
    [
        {"reason": "price"},
        {"action": "skip"},
        {"offer": "disc", "action": "accept"},
        {"action": "cancel"},
        {"action": "keep"},
    ],
)
def test_done_sessions_ignore_every_post(step: str, form: dict[str, str]) -> None:
    done = complete(at_confirm())
    assert post(done, step, **form) == Transition(done, {}, None, True)


@pytest.mark.parametrize("step", ["", "unknown", "done", "Survey"])
def test_unknown_step_names_are_stale(step: str) -> None:
    assert post(State(), step, reason="price") == Transition(State(), {}, None, True)


def test_complete_returns_a_done_copy() -> None:
    state = at_confirm()
    done = complete(state)
    assert done == State("done", "price", "bye", ["disc", "pause", "free"], 2)
    assert state.step == "confirm"
    done.offer_ids.append("x")
    assert state.offer_ids == ["disc", "pause", "free"]


def test_whole_walk_through_declining_everything() -> None:
    state = State()
    for step, form in [
        ("survey", {"reason": "price", "comment": "meh"}),
        ("offer", {"offer": "disc", "action": "decline"}),
        ("offer", {"offer": "pause", "action": "decline"}),
        ("offer", {"offer": "free", "action": "decline"}),
    ]:
        result = post(state, step, **form)
        assert result.ok
        assert result.effect is None
        state = result.state
    assert state.step == "confirm"
    final = post(state, "confirm", action="cancel")
    assert final.effect == CancelSubscription("too_expensive", "meh")
    done = complete(final.state)
    assert post(done, "confirm", action="cancel").stale


FORMS = st.dictionaries(
    st.sampled_from(["reason", "comment", "action", "offer"]),
    st.sampled_from(["price", "bored", "old", "disc", "pause", "ghost", "accept", "decline"])
    | st.sampled_from(["cancel", "keep", "skip", "cancel_now", ""])
    | st.text(max_size=5),
)
STATES = st.builds(
    State,
    step=st.sampled_from([*STEPS, "bogus"]),
    reason=st.none() | st.sampled_from(["price", "bored", "gone"]),
    comment=st.text(max_size=5),
    offer_ids=st.lists(st.sampled_from(["disc", "pause", "free", "switch", "ghost"]), max_size=4),
    offer_index=st.integers(-1, 5),
)


@PROPERTY
@given(STATES, st.sampled_from([*STEPS, "x"]), FORMS)
def test_submit_never_fails_or_mutates(state: State, step: str, form: dict[str, str]) -> None:
    before = copy.deepcopy(state)
    result = submit(ENGINE_FLOW, LIVE, state, step, form)
    assert state == before
    assert isinstance(result, Transition)
    assert result.state.step in (*STEPS, "bogus")
    assert not (result.stale and (result.errors or result.effect))
    assert not (result.errors and result.effect)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hello  ", "hello"),
        ("e\u0301t\u00e9", "\u00e9t\u00e9"),  # decomposed accents are composed (NFC)
        ("e\x00\u0301", "\u00e9"),  # a removed control does not keep letter and accent apart
        ("a\r\nb\rc", "a\nb\nc"),
        ("tab\there\nline", "tab\there\nline"),
        ("bell\x07 esc\x1b[31m del\x7f c1\x85", "bell esc[31m del c1"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("\n\t \n", ""),
    ],
)
def test_clean_comment(raw: str, clean: str) -> None:
    assert clean_comment(raw) == clean
