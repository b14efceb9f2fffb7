"""The dashboard's compliance page: the default profile, the receipts switch, the trail's
export (this merchant's sessions only) and its check; the preview names the profile in force."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import add_user, sign_in, text

from cancelpage import trail
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug, create_merchant
from cancelpage.models import SessionEvent


def signed_in(app: Flask, client: FlaskClient) -> None:
    add_user(app, "acme", "owner@acme.example")
    sign_in(client, "owner@acme.example")


def csrf_of(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_the_default_profile_and_the_receipts_switch_are_saved(
    app: Flask, client: FlaskClient, merchant: Any
) -> None:
    signed_in(app, client)
    token = csrf_of(client, "/admin/compliance")
    answer = client.post(
        "/admin/compliance", data={"csrf_token": token, "compliance_default": "de"}
    )
    assert answer.status_code == 303
    with app.app_context():
        saved = by_slug("acme")
        assert saved is not None
        assert (saved.compliance_default, saved.receipts_enabled) == ("de", False)
    page = text(client.get("/admin/compliance"))
    assert "Country unknown</td><td>Germany (BGB § 312k)" in page
    refused = client.post(
        "/admin/compliance", data={"csrf_token": token, "compliance_default": "xx"}
    )
    assert refused.status_code == 422


def test_the_export_holds_this_merchants_sessions_only_and_verifies(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(customer="cus_mine")
    client.post(f"{url}/survey", data={"action": "skip"})
    with app.app_context():
        create_merchant("other", "Other")
        db.session.commit()
    start("other", customer="cus_theirs")
    signed_in(app, client)
    exported = client.get("/admin/compliance/trail.json?customer=cus_mine")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    document = json.loads(exported.get_data(as_text=True))
    assert {e["customer"] for e in document["events"]} == {"cus_mine"}
    assert trail.verify(*trail.parse_export(exported.get_data(as_text=True))).ok
    everything = client.get("/admin/compliance/trail.csv").get_data(as_text=True)
    assert "cus_mine" in everything
    assert "cus_theirs" not in everything
    token = csrf_of(client, "/admin/compliance")
    checked = text(client.post("/admin/compliance/verify", data={"csrf_token": token}))
    assert "every chain holds" in checked
    with app.app_context():
        db.session.execute(sa.update(SessionEvent).where(SessionEvent.id == 1).values(kind="x"))
        db.session.commit()
    broken = text(client.post("/admin/compliance/verify", data={"csrf_token": token}))
    assert "session 1, event 1 (row 1): its content or its place" in broken


def test_the_preview_names_the_profile_in_force(
    app: Flask, client: FlaskClient, merchant: Any
) -> None:
    signed_in(app, client)
    page = text(client.get("/admin/preview?country=DE"))
    assert "Compliance profile in force: <strong>Germany (BGB § 312k)</strong>" in page
    assert "United States: California: California (AB 2863)" in page
    token = csrf_of(client, "/admin/preview")
    form = {
        "csrf_token": token,
        "plan": "Pro",
        "mrr": "2900",
        "currency": "usd",
        "tenure_days": "100",
        "country": "DE",
    }
    opened = client.post("/admin/preview", data=form)
    assert opened.status_code == 303
    step = client.get(opened.headers["Location"])
    assert "Cancel now" in text(client.get(step.headers["Location"]))
