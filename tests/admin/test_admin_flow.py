"""Flow editor: reasons, typed offers, rules, publishing and versions; preview as a customer."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import HX, add_user, post, sign_in, text

from cancelpage import flows
from cancelpage.extensions import db
from cancelpage.merchants import flow_drafts
from cancelpage.merchants.store import by_slug
from cancelpage.models import CancelSession, FlowVersion


@pytest.fixture
def token(app: Flask, client: FlaskClient, merchant: Any) -> str:
    add_user(app, "acme", "owner@acme.example")
    return sign_in(client, "owner@acme.example")


def draft(app: Flask) -> dict[str, Any]:
    with app.app_context():
        m = by_slug("acme")
        return m.flow_draft if m.flow_draft is not None else m.flow_version.data


def published_numbers(app: Flask) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(FlowVersion.number).order_by(FlowVersion.number)))


def error_near(page: str, element_id: str) -> str:
    at = page.index(f'id="{element_id}-error"')
    return page[at : at + 200]


def test_editor_shows_the_published_flow(client: FlaskClient, token: str) -> None:
    page = text(client.get("/admin/flow"))
    assert "The draft is the same as the published version 1." in page
    assert "It&#39;s too expensive" in page
    assert "discount_25_3m" in page
    assert "Price-sensitive" in page


# ---- reasons -----------------------------------------------------------------------------------


def test_edit_a_reason_plain_and_htmx(app: Flask, client: FlaskClient, token: str) -> None:
    form = {"label": "Costs too much", "feedback": "too_expensive", "enabled": "on"}
    response = post(client, "/admin/flow/reasons/0", token, form)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/flow#reasons"
    assert draft(app)["reasons"][0]["label"] == "Costs too much"
    assert published_numbers(app) == [1]  # nothing published yet
    page = text(client.get("/admin/flow"))
    assert "Reason saved." in page
    assert "The draft has unpublished changes." in page

    hx = post(
        client,
        "/admin/flow/reasons/1",
        token,
        {"label": "Rarely used", "feedback": "unused"},
        headers=HX,
    )
    body = hx.get_data(as_text=True)
    assert hx.status_code == 200
    assert "<html" not in body
    assert body.strip().startswith('<section id="reasons"')
    assert '<section id="publish-bar" class="card publish-bar" hx-swap-oob="true"' in body
    assert "Reason saved." in body
    assert draft(app)["reasons"][1] == {
        "code": "unused",
        "label": "Rarely used",
        "feedback": "unused",
        "enabled": False,
    }


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"label": "", "feedback": "unused"}, "label", "must not be empty"),
        ({"label": "x" * 121, "feedback": "unused"}, "label", "must be at most 120 characters"),
        ({"label": "Fine", "feedback": "bored"}, "feedback", "must be one of"),
    ],
)
def test_bad_reason_edits_show_inline(
    app: Flask, client: FlaskClient, token: str, form: dict[str, str], field: str, message: str
) -> None:
    before = draft(app)
    for headers in ({}, HX):
        response = post(client, "/admin/flow/reasons/2", token, form, headers=headers)
        assert response.status_code == 200
        assert message in error_near(response.get_data(as_text=True), f"r2-{field}")
    assert draft(app) == before


def test_add_reasons_and_refuse_bad_codes(app: Flask, client: FlaskClient, token: str) -> None:
    good = {
        "code": "seasonal",
        "label": "Only needed it for a season",
        "feedback": "unused",
        "enabled": "on",
    }
    assert post(client, "/admin/flow/reasons", token, good).status_code == 303
    assert draft(app)["reasons"][-1]["code"] == "seasonal"
    for code, message in [
        ("seasonal", "duplicate reason code"),
        ("Bad Code", "lower-case letters"),
    ]:
        page = post(client, "/admin/flow/reasons", token, {**good, "code": code}).get_data(
            as_text=True
        )
        assert message in error_near(page, "new-reason-code")
        assert "<details open>" in page  # the add form stays open with what was typed


def test_at_least_one_reason_stays_enabled(app: Flask, client: FlaskClient, token: str) -> None:
    reasons = draft(app)["reasons"]
    for i, reason in enumerate(reasons[:-1]):
        post(
            client,
            f"/admin/flow/reasons/{i}",
            token,
            {"label": reason["label"], "feedback": reason["feedback"]},
        )
    last = len(reasons) - 1
    page = text(
        post(client, f"/admin/flow/reasons/{last}", token, {"label": "Other", "feedback": "other"})
    )
    assert "at least one reason must be enabled" in page
    assert draft(app)["reasons"][last]["enabled"] is True


def test_move_and_delete_reasons(app: Flask, client: FlaskClient, token: str) -> None:
    codes = [r["code"] for r in draft(app)["reasons"]]
    post(client, "/admin/flow/reasons/1/move", token, {"direction": "up"})
    assert [r["code"] for r in draft(app)["reasons"]][:2] == [codes[1], codes[0]]
    refused = text(post(client, "/admin/flow/reasons/0/delete", token))  # "unused": a rule uses it
    assert "This reason is used by “Not using it”: remove it there first." in refused
    other = codes.index("other")
    post(client, f"/admin/flow/reasons/{other}/delete", token)
    assert "other" not in [r["code"] for r in draft(app)["reasons"]]
    assert post(client, "/admin/flow/reasons/99/delete", token).status_code == 404


# ---- offers ------------------------------------------------------------------------------------

GOOD_OFFERS = {
    "discount": {"percent_off": "30", "duration": "repeating", "duration_in_months": "2"},
    "pause": {"months": "3", "behavior": "keep_as_draft"},
    "switch_plan": {"price_id": "price_1Lite", "proration_behavior": "none"},
    "free_period": {"days": "14"},
    "contact": {"url": "mailto:help@acme.example"},
    "custom_link": {"url": "https://acme.example/downgrade"},
}


@pytest.mark.parametrize("kind", list(GOOD_OFFERS))
def test_add_each_kind_of_offer(app: Flask, client: FlaskClient, token: str, kind: str) -> None:
    new = client.get("/admin/flow/offers/new", query_string={"kind": kind}, headers=HX)
    assert new.get_data(as_text=True).strip().startswith('<div id="new-offer">')
    assert f'<input type="hidden" name="kind" value="{kind}">' in new.get_data(as_text=True)
    no_js = client.get("/admin/flow/offers/new", query_string={"kind": kind})
    assert "<html" in no_js.get_data(as_text=True)
    assert "New offer:" in no_js.get_data(as_text=True)
    form = {
        "kind": kind,
        "id": f"new_{kind}",
        "title": "Stay <please>",
        "body": "",
        **GOOD_OFFERS[kind],
    }
    assert post(client, "/admin/flow/offers", token, form).status_code == 303
    offer = draft(app)["offers"][-1]
    assert offer["id"] == f"new_{kind}"
    assert offer["kind"] == kind
    assert offer["title"] == "Stay <please>"
    parsed = flows.parse_flow(draft(app)).offers[f"new_{kind}"]
    assert parsed.kind == kind
    assert "Stay &lt;please&gt;" in client.get("/admin/flow").get_data(as_text=True)


@pytest.mark.parametrize(
    ("kind", "fields", "field", "message"),
    [
        ("discount", {"percent_off": "150"}, "percent_off", "must be between 1 and 100"),
        ("discount", {"percent_off": "ten"}, "percent_off", "must be a number"),
        ("discount", {"amount_off": "500"}, "currency", "required"),
        (
            "discount",
            {"percent_off": "10", "duration": "repeating"},
            "duration_in_months",
            "required",
        ),
        ("pause", {"months": "13"}, "months", "must be between 1 and 12"),
        ("switch_plan", {"price_id": "prod_123"}, "price_id", "must be a Stripe price id"),
        ("free_period", {"days": "0"}, "days", "must be between 1 and 365"),
        ("free_period", {"days": "lots"}, "days", "must be an integer"),
        ("contact", {"url": "http://acme.example"}, "url", "must be a mailto: or https:// address"),
        ("custom_link", {"url": "javascript:alert(1)"}, "url", "must be an https:// address"),
    ],
)
def test_bad_offers_show_inline_and_are_not_saved(
    app: Flask,
    client: FlaskClient,
    token: str,
    kind: str,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    before = draft(app)
    form = {"kind": kind, "id": "bad_offer", "title": "Title", **fields}
    for headers in ({}, HX):
        page = post(client, "/admin/flow/offers", token, form, headers=headers).get_data(
            as_text=True
        )
        assert message in error_near(page, f"new-offer-{field}")
        assert 'value="bad_offer"' in page  # what was typed is kept
    assert draft(app) == before


def test_offer_level_errors_are_shown_above_the_form(
    app: Flask, client: FlaskClient, token: str
) -> None:
    form = {
        "kind": "discount",
        "id": "both",
        "title": "T",
        "percent_off": "10",
        "amount_off": "100",
        "currency": "usd",
    }
    page = text(post(client, "/admin/flow/offers", token, form))
    assert "set percent_off or amount_off, not both" in page


def test_edit_and_delete_offers(app: Flask, client: FlaskClient, token: str) -> None:
    form = {"title": "Pause a month", "body": "", "months": "1", "behavior": "void"}
    assert post(client, "/admin/flow/offers/pause_1m", token, form).status_code == 303
    bad = post(client, "/admin/flow/offers/pause_1m", token, {**form, "months": "0"}).get_data(
        as_text=True
    )
    assert "must be between 1 and 12" in error_near(bad, "o1-months")
    used = text(post(client, "/admin/flow/offers/pause_1m/delete", token))
    assert "This offer is used by “Price-sensitive”, “Not using it”, the default offers" in used
    assert post(client, "/admin/flow/offers/pause_2m/delete", token).status_code == 303
    assert "pause_2m" not in [o["id"] for o in draft(app)["offers"]]
    assert post(client, "/admin/flow/offers/nope", token, form).status_code == 404
    dup = {"kind": "free_period", "id": "free_30d", "title": "Again", "days": "3"}
    assert "duplicate offer id" in error_near(
        post(client, "/admin/flow/offers", token, dup).get_data(as_text=True), "new-offer-id"
    )


# ---- rules and general -------------------------------------------------------------------------

BIG_SPENDERS = {
    "name": "Big spenders",
    "reasons": ["too_expensive"],
    "cond-0-field": "mrr",
    "cond-0-op": "gte",
    "cond-0-value": "5000",
    "cond-1-field": "attr",
    "cond-1-attr": "team",
    "cond-1-op": "in",
    "cond-1-value": "blue, green",
    "cond-2-field": "",
    "offers": ["free_30d", "", ""],
}


def test_add_and_reorder_a_rule(app: Flask, client: FlaskClient, token: str) -> None:
    """A new rule is inserted where the merchant chose (first by default), then moved."""
    count = len(draft(app)["rules"])
    last = {**BIG_SPENDERS, "position": str(count + 1)}
    assert post(client, "/admin/flow/rules", token, last).status_code == 303
    rule = draft(app)["rules"][-1]
    assert rule == {
        "name": "Big spenders",
        "reasons": ["too_expensive"],
        "conditions": [
            {"field": "mrr", "op": "gte", "value": 5000},
            {"field": "attr.team", "op": "in", "value": ["blue", "green"]},
        ],
        "offers": ["free_30d"],
    }
    index = count
    for _ in range(count):
        post(client, f"/admin/flow/rules/{index}/move", token, {"direction": "up"}, headers=HX)
        index -= 1
    assert draft(app)["rules"][0]["name"] == "Big spenders"
    page = client.get("/admin/flow").get_data(as_text=True)
    assert 'name="cond-1-attr" value="team"' in page
    assert 'value="blue, green"' in page


@pytest.mark.parametrize(("position", "index"), [("1", 0), ("3", 2), ("", 0), ("99", 4)])
def test_a_new_rule_lands_at_the_chosen_position(
    app: Flask, client: FlaskClient, token: str, position: str, index: int
) -> None:
    before = [rule["name"] for rule in draft(app)["rules"]]
    form = {**BIG_SPENDERS, "name": "Chosen place", "position": position}
    assert post(client, "/admin/flow/rules", token, form).status_code == 303
    names = [rule["name"] for rule in draft(app)["rules"]]
    assert names == [*before[:index], "Chosen place", *before[index:]]


def test_a_rule_an_earlier_rule_catches_says_it_is_never_used(
    app: Flask, client: FlaskClient, token: str
) -> None:
    catch_all = {"name": "Everyone", "offers": ["free_30d"], "position": "1"}
    assert post(client, "/admin/flow/rules", token, catch_all).status_code == 303
    page = client.get("/admin/flow").get_data(as_text=True)
    assert page.count("Never used: rule 1 (“Everyone”)") == len(draft(app)["rules"]) - 1


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"cond-0-value": "lots"}, "conditions[0].value", "must be an integer"),
        ({"cond-0-op": "eq"}, "conditions[0].op", "must be &#39;gte&#39; or &#39;lte&#39; for mrr"),
        (
            {"cond-1-attr": "bad key!"},
            "conditions[1].field",
            "must be plan, mrr, tenure_days or attr.&lt;key&gt;",
        ),
        ({"name": ""}, "name", "must not be empty"),
        ({"reasons": ["nope"]}, "reasons[0]", "unknown reason"),
    ],
)
def test_bad_rules_show_inline(
    app: Flask, client: FlaskClient, token: str, changes: dict[str, Any], key: str, message: str
) -> None:
    before = draft(app)
    page = post(client, "/admin/flow/rules", token, {**BIG_SPENDERS, **changes}).get_data(
        as_text=True
    )
    assert message in page
    assert draft(app) == before


def test_general_settings(app: Flask, client: FlaskClient, token: str) -> None:
    post(
        client,
        "/admin/flow/general",
        token,
        {"default_offers": ["free_30d", "pause_2m"], "max_offers": "1"},
    )
    assert (draft(app)["default_offers"], draft(app)["max_offers"]) == (["free_30d", "pause_2m"], 1)
    bad = post(client, "/admin/flow/general", token, {"max_offers": "9"}, headers=HX).get_data(
        as_text=True
    )
    assert bad.strip().startswith('<section id="general"')
    assert "must be between 1 and 5" in error_near(bad, "max_offers")


def test_delete_a_rule(app: Flask, client: FlaskClient, token: str) -> None:
    names = [r["name"] for r in draft(app)["rules"]]
    post(client, "/admin/flow/rules/0/delete", token)
    assert [r["name"] for r in draft(app)["rules"]] == names[1:]
    assert post(client, "/admin/flow/rules/42", token, BIG_SPENDERS).status_code == 404


# ---- publishing and versions -------------------------------------------------------------------


def test_publish_sessions_record_versions_and_restore(
    app: Flask, client: FlaskClient, token: str, start: Any
) -> None:
    first_session = start(customer="cus_one")
    post(
        client,
        "/admin/flow/offers/discount_25_3m",
        token,
        {"title": "Half off", "percent_off": "50", "duration": "once"},
    )
    response = post(client, "/admin/flow/publish", token)
    assert response.status_code == 303
    assert "Published version 2." in text(client.get("/admin/flow"))
    assert published_numbers(app) == [1, 2]
    second_session = start(customer="cus_two")
    for url in (first_session, second_session):
        client.post(f"{url}/survey", data={"reason": "too_expensive"})
    assert "25% off" in text(client.get(first_session))  # keeps version 1
    assert "Half off" in text(client.get(second_session))
    with app.app_context():
        sessions = db.session.scalars(sa.select(CancelSession).order_by(CancelSession.id)).all()
        numbers = [db.session.get(FlowVersion, s.flow_version_id).number for s in sessions]
        assert numbers == [1, 2]
        v1 = db.session.scalar(sa.select(FlowVersion).where(FlowVersion.number == 1))
        v1_id, v1_data = v1.id, v1.data
    page = text(client.get("/admin/flow"))
    assert re.search(r"<td>1</td> <td>[^<]+ UTC</td> <td>1</td>", page)  # one session ran v1

    restored = post(client, f"/admin/flow/versions/{v1_id}/restore", token, headers=HX)
    assert restored.get_data(as_text=True).strip().startswith('<div id="editor">')
    assert "Version 1 restored as version 3." in restored.get_data(as_text=True)
    with app.app_context():
        m = by_slug("acme")
        assert m.flow_version.number == 3
        assert m.flow_version.data == v1_data
        assert m.flow_draft is None
    assert post(client, "/admin/flow/versions/9999/restore", token).status_code == 404


def test_discard_the_draft(app: Flask, client: FlaskClient, token: str) -> None:
    post(
        client,
        "/admin/flow/reasons/0",
        token,
        {"label": "Changed", "feedback": "too_expensive", "enabled": "on"},
    )
    post(client, "/admin/flow/discard", token)
    assert draft(app)["reasons"][0]["label"] == "It's too expensive"
    assert "The draft is the same as the published version 1." in text(client.get("/admin/flow"))


# ---- preview as a customer --------------------------------------------------------------------


def test_preview_two_segments_see_different_offers_and_nothing_reaches_stripe(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any
) -> None:
    add_user(app, "live", "owner@live.example")
    token = sign_in(client, "owner@live.example")
    post(client, "/admin/flow/rules", token, {**BIG_SPENDERS, "cond-1-field": "", "position": "1"})
    post(client, "/admin/flow/publish", token)
    segments = {
        "9900": ("Try it again, on us", "POST /v1/subscriptions/sub_preview"),
        "900": ("25% off", "POST /v1/coupons"),
    }
    for mrr, (title, request_line) in segments.items():
        form = {
            "plan": "Pro",
            "mrr": mrr,
            "currency": "eur",
            "tenure_days": "400",
            "attributes": "team=blue",
        }
        opened = post(client, "/admin/preview", token, form)
        assert opened.status_code == 303
        assert opened.headers["Location"].startswith("/c/")
        url = client.get(opened.headers["Location"]).headers["Location"]
        client.post(f"{url}/survey", data={"reason": "too_expensive"})
        offer = text(client.get(url))
        assert title in offer
        offer_id = re.search(r'name="offer" value="([^"]+)"', offer).group(1)
        client.post(f"{url}/offer", data={"offer": offer_id, "action": "accept"})
        done = text(client.get(url))
        assert "Preview mode: what would have been sent to Stripe" in done
        assert request_line in done
    assert stripe_stub.requests == []  # the live merchant's Stripe was never called
    with app.app_context():
        sessions = db.session.scalars(sa.select(CancelSession)).all()
        assert [s.live for s in sessions] == [False, False]
        # Marked, so that analytics can leave the merchant's own tries out.
        assert [s.preview for s in sessions] == [True, True]
        assert {s.attributes["mrr"] for s in sessions} == {"9900", "900"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("plan", "", "Name the plan"),
        ("mrr", "49.00", "Monthly revenue in minor units"),
        ("mrr", "²", "Monthly revenue in minor units"),
        ("mrr", "9" * 5000, "Monthly revenue in minor units"),
        ("tenure_days", "١٢", "Days since the subscription started"),
        ("currency", "euro", "A 3-letter currency code"),
        ("tenure_days", "-1", "Days since the subscription started"),
        ("price_id", "prod_1", "A Stripe price id looks like"),
        ("attributes", "team blue", "is not key=value"),
        ("attributes", "bad key!=x", "must be letters, digits"),
        ("locale", "it", "Choose one of the listed languages."),
    ],
)
def test_bad_preview_snapshots_are_refused(
    client: FlaskClient, token: str, field: str, value: str, message: str
) -> None:
    form = {"plan": "Pro", "mrr": "2900", "currency": "usd", "tenure_days": "10", field: value}
    response = post(client, "/admin/preview", token, form)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_a_preview_link_cannot_be_made_without_the_signature(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, make_link: Any
) -> None:
    """A customer who edits a live link's payload to add the preview flag gets the generic page."""
    import base64
    import json

    link = make_link("live", customer=stripe_support_customer(), subscription="sub_x")
    payload, rest = link.removeprefix("/c/").split(".", 1)
    wire = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**wire, "p": 1}).encode()).decode().rstrip("=")
    assert client.get(f"/c/{forged}.{rest}").status_code == 404
    assert stripe_stub.requests == []


def stripe_support_customer() -> str:
    from support import stripe_support

    return stripe_support.CUSTOMER_ID


def test_edits_keep_translations(app: Flask, client: FlaskClient, token: str) -> None:
    with app.app_context():
        m = by_slug("acme")
        data = flow_drafts.draft_of(m)
        data["reasons"][0]["labels"] = {"de": "Zu teuer"}
        data["offers"][0]["titles"] = {"de": "25 % Rabatt"}
        m.flow_draft = flows.flow_to_dict(flows.parse_flow(data))
        db.session.commit()
    post(
        client,
        "/admin/flow/reasons/0",
        token,
        {"label": "Costs too much", "feedback": "too_expensive", "enabled": "on"},
    )
    form = {"title": "Quarter off", "percent_off": "25", "duration": "once"}
    post(client, "/admin/flow/offers/discount_25_3m", token, form)
    reason, offer = draft(app)["reasons"][0], draft(app)["offers"][0]
    assert reason["labels"] == {"de": "Zu teuer"}
    assert reason["label"] == "Costs too much"
    assert offer["titles"] == {"de": "25 % Rabatt"}
    assert offer["duration"] == "once"
    assert "duration_in_months" not in offer  # a field cleared in the form is gone


# ---- the draft preview beside the editor --------------------------------------------------------


def test_the_draft_preview_shows_two_segments_different_offers_and_why(
    app: Flask, client: FlaskClient, token: str
) -> None:
    """The draft (unpublished) decides: the new rule at position 1 catches big spenders only."""
    post(client, "/admin/flow/rules", token, {**BIG_SPENDERS, "cond-1-field": "", "position": "1"})
    assert published_numbers(app) == [1]
    segment = {"plan": "Pro", "tenure_days": "400", "reason": "too_expensive", "attributes": ""}
    big = client.get(
        "/admin/flow/draft-preview", query_string={**segment, "mrr": "9900"}, headers=HX
    )
    small = client.get(
        "/admin/flow/draft-preview", query_string={**segment, "mrr": "900"}, headers=HX
    )
    big_page, small_page = text(big), text(small)
    assert "<html" not in big_page
    assert "Rule 1 “Big spenders” decides." in big_page
    assert (
        "1. Big spenders: yes, the reason is one of its reasons; mrr is at least 5000." in big_page
    )
    assert 'data-offer="free_30d"' in big_page
    assert "Rule 2 “Price-sensitive” decides." in small_page
    assert "1. Big spenders: no, mrr is at least 5000 does not hold." in small_page
    assert 'data-offer="discount_25_3m"' in small_page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CancelSession)) == 0


def test_the_draft_preview_speaks_the_chosen_language_and_works_without_js(
    client: FlaskClient, token: str
) -> None:
    query = {"plan": "Pro", "mrr": "900", "tenure_days": "400", "reason": "too_expensive"}
    plain = client.get("/admin/flow/draft-preview", query_string={**query, "locale": "de"})
    assert plain.status_code == 303
    page = text(client.get(plain.headers["Location"]))
    assert "<html" in page
    assert "Rule 1 “Price-sensitive” decides." in page
    assert 'data-offer="discount_25_3m"' in page
    assert 'lang="en"' in page  # the dashboard stays English; only the preview is German
    bad = text(client.get("/admin/flow", query_string={**query, "mrr": "lots"}))
    assert "Monthly revenue in minor units" in bad


def test_a_refused_edit_swaps_only_its_own_item(client: FlaskClient, token: str) -> None:
    """htmx: the server names the element to replace, so the rest of the editor stays as typed."""
    bad = {"kind": "discount", "id": "half", "title": "Half off", "percent_off": "500"}
    response = post(client, "/admin/flow/offers", token, bad, headers=HX)
    assert response.headers["HX-Retarget"] == "#new-offer"
    assert response.headers["HX-Reselect"] == "#new-offer"
    assert 'id="new-offer"' in text(response)
    used = post(client, "/admin/flow/offers/discount_25_3m/delete", token, headers=HX)
    assert used.headers["HX-Retarget"] == used.headers["HX-Reselect"] == "#offer-0"
    assert "This offer is used by" in text(used)
    good = {**bad, "percent_off": "50", "duration": "once"}
    saved = post(client, "/admin/flow/offers", token, good, headers=HX)
    assert saved.headers["HX-Retarget"] == "#editor"
    assert "HX-Reselect" not in saved.headers
    assert saved.headers["HX-Trigger"] == "draft-changed"


def test_saving_an_experiments_list_unchanged_keeps_the_experiment(
    app: Flask, client: FlaskClient, token: str
) -> None:
    """The editor showed an experiment's place as "(none)", so saving the list as it was and
    publishing deleted the running experiment (issue 13)."""
    from cancelpage.analytics import simulate
    from cancelpage.merchants.store import publish_flow

    with app.app_context():
        publish_flow(by_slug("acme"), simulate.simulation_flow())
        db.session.commit()
    option = f'<option value="experiment:{simulate.SIM_EXPERIMENT}" selected>'
    assert option in client.get("/admin/flow").get_data(as_text=True)
    saved = draft(app)["default_offers"]
    unchanged = {
        "default_offers": [f"experiment:{simulate.SIM_EXPERIMENT}", *saved[1:]],
        "max_offers": str(draft(app).get("max_offers", 3)),
    }
    assert post(client, "/admin/flow/general", token, unchanged).status_code == 303
    assert draft(app)["default_offers"] == saved
    post(client, "/admin/flow/publish", token)
    with app.app_context():
        published = by_slug("acme").flow_version.data
    assert published["default_offers"] == saved
