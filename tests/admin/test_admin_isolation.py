"""Isolation between merchants: EVERY dashboard route, requested by a user of merchant A with the
ids of merchant B's objects, neither shows nor changes anything of B's. Signed out, every route
but the sign-in pages sends to the sign-in page and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, url_for
from flask.testing import FlaskClient
from support import stripe_support
from support.admin_support import add_user, sign_in

from cancelpage import billing, create_app
from cancelpage.admin.common import PUBLIC_ENDPOINTS
from cancelpage.billing import RecordingHTTPClient
from cancelpage.extensions import db
from cancelpage.merchant_webhooks import endpoints, events
from cancelpage.merchants import api_keys, flow_drafts
from cancelpage.merchants.store import by_slug, create_merchant
from cancelpage.models import (
    ApiKey,
    CancelSession,
    EmailCopy,
    FlowVersion,
    Merchant,
    MerchantUser,
    MerchantWebhookEndpoint,
    OutboxEmail,
    RecoveryCase,
    RevenueScan,
    WebhookDelivery,
    utcnow,
)
from cancelpage.recovery import emails, outbox

B_NAME = "Beta Secret Corp"
B_OFFER = "Beta-only offer"
B_EMAIL = "owner@beta.example"
B_STRIPE_KEY = "sk_test_betabetabeta1234"
B_WEBHOOK = "whsec_betabetabetabeta9876"
B_SUBJECT = "Beta-only email subject"
B_CUSTOMER = "customer@beta.example"
B_PAYER = "cus_BetaPayer"
B_INVOICE = "in_BetaInvoice"
B_AMOUNT = "4,242.42"  # as the analytics page would show B's amount at risk


def admin_routes() -> list[Any]:
    """(endpoint, method) for every dashboard route (analytics included), from the url_map."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SEED_DEMO": False})
    params = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("admin.", "analytics.")):
            for method in sorted((rule.methods or set()) & {"GET", "POST"}):
                params.append(pytest.param(rule, method, id=f"{method} {rule.rule}"))
    return params


ROUTES = admin_routes()
# Hostile form data: every field name the dashboard reads, aimed at changing something.
FORM = {
    "name": "HACKED",
    "label": "HACKED",
    "title": "HACKED",
    "feedback": "other",
    "enabled": "on",
    "code": "hacked",
    "id": "hacked",
    "kind": "discount",
    "percent_off": "99",
    "duration": "forever",
    "api_key": "sk_test_hackedhackedhacked",
    "secret": "whsec_hackedhackedhacked",
    "mode": "live",
    "direction": "up",
    "brand_color": "#000000",
    "cancel_mode": "immediately",
    "link_lifetime_hours": "1",
    "default_locale": "en",
    "max_offers": "1",
    "plan": "Pro",
    "mrr": "100",
    "currency": "usd",
    "tenure_days": "1",
    "email": "attacker@acme.example",
    "password": "x",
    "subject": "HACKED",
    "body": "HACKED",
    "locale": "de",
    "days": "1",
    "to": "attacker@acme.example",
}


def test_every_admin_route_is_covered() -> None:
    arguments = {arg for param in ROUTES for arg in param.values[0].arguments}
    assert arguments <= {
        "key_id",
        "index",
        "offer_id",
        "version_id",
        "section",
        "token",
        "kind",
        "row_id",
        "experiment_id",
        "scan_id",
        "endpoint_id",
        "delivery_id",
    }
    assert len(ROUTES) >= 40
    assert {"analytics.dashboard", "analytics.export_dunning"} <= {
        param.values[0].endpoint for param in ROUTES
    }


@pytest.fixture(autouse=True)
def stripe_refuses_made_up_keys(app: Flask) -> RecordingHTTPClient:
    """The hostile form's key is checked against a local stub that, like Stripe, answers 401."""
    stub = RecordingHTTPClient(lambda req: (401, stripe_support.default_error_body(401)))
    app.extensions["cancelpage.key_checker"] = lambda key: billing.check_key(key, http_client=stub)
    return stub


@pytest.fixture
def beta(app: Flask, merchant: Any) -> dict[str, Any]:
    """Merchant B with one of everything; merchant A ("acme") has a user too."""
    add_user(app, "acme", "owner@acme.example")
    with app.app_context():
        b = create_merchant("beta", B_NAME, stripe_key=B_STRIPE_KEY, return_hosts=["beta.example"])
        b.webhook_secrets = [B_WEBHOOK]
        b.copy = {"survey_intro": "Beta copy"}
        data = flow_drafts.draft_of(b)
        data["offers"].append(
            {"id": "b_only_offer", "kind": "free_period", "title": B_OFFER, "days": 9}
        )
        b.flow_draft = data
        version = flow_drafts.publish(b)
        key, _ = api_keys.create_key(b, "Beta backend")
        case = RecoveryCase(
            merchant_id=b.id,
            kind="payment_failed",
            ref=B_INVOICE,
            customer_id=B_PAYER,
            invoice_id=B_INVOICE,
            amount_due=424242,
            currency="usd",
        )
        db.session.add(case)
        db.session.flush()
        emails.set_copy(b, "dunning_1", B_SUBJECT, None)
        emails.set_copy(b, "dunning_1", B_SUBJECT, None, locale="de")
        row = outbox.queue(
            b,
            kind="dunning_1",
            dedupe_key="case:b:1",
            to_address=B_CUSTOMER,
            customer_id=B_PAYER,
            locale="en",
            data={"amount": 100, "currency": "eur"},
            case=case,
        )
        assert row is not None
        row.status, row.attempts = "dead", 12
        scan = RevenueScan(  # a finished revenue scan: B's MRR lost is B_AMOUNT
            merchant_id=b.id,
            status="done",
            window_start=utcnow(),
            window_end=utcnow(),
            phase=9,
            figures={"months": {}, "now": {"usd": {"at_risk": [1, 424242]}}, "unpriced": 0},
            finished_at=utcnow(),
        )
        db.session.add(scan)
        endpoint, _ = endpoints.add_endpoint(b, "https://93.184.215.14/beta-hooks")
        (sent,) = events.emit(b.id, "recovery.lost", "recovery:b", {"case": case.id})
        sent.status = "dead"
        db.session.commit()
        ids = {
            "endpoint_id": endpoint.id,
            "delivery_id": sent.id,
            "key_id": key.id,
            "version_id": version.id,
            "prefix": key.prefix,
            "row_id": row.id,
            "scan_id": scan.id,
        }
    add_user(app, "beta", B_EMAIL)
    return ids


def snapshot(app: Flask) -> Any:
    """Everything of merchant B, secrets decrypted."""
    with app.app_context():
        b = by_slug("beta")
        row = {c.key: getattr(b, c.key) for c in Merchant.__table__.columns}
        row["secrets"] = (b.stripe_key(), b.link_secrets, b.webhook_secrets)
        users = db.session.execute(
            sa.select(MerchantUser.email, MerchantUser.password_hash).where(
                MerchantUser.merchant_id == b.id
            )
        ).all()
        keys = db.session.execute(
            sa.select(ApiKey.id, ApiKey.digest, ApiKey.revoked_at, ApiKey.last_used_at).where(
                ApiKey.merchant_id == b.id
            )
        ).all()
        versions = db.session.execute(
            sa.select(FlowVersion.id, FlowVersion.number, FlowVersion.data).where(
                FlowVersion.merchant_id == b.id
            )
        ).all()
        sessions = db.session.scalar(sa.select(sa.func.count()).select_from(CancelSession))
        copies = db.session.execute(
            sa.select(EmailCopy.kind, EmailCopy.locale, EmailCopy.subject, EmailCopy.body).where(
                EmailCopy.merchant_id == b.id
            )
        ).all()
        mail = db.session.execute(
            sa.select(
                OutboxEmail.id, OutboxEmail.status, OutboxEmail.attempts, OutboxEmail.due_at
            ).where(OutboxEmail.merchant_id == b.id)
        ).all()
        cases = db.session.execute(
            sa.select(RecoveryCase.id, RecoveryCase.status, RecoveryCase.closed_at)
        ).all()
        scans = db.session.execute(
            sa.select(RevenueScan.id, RevenueScan.status, RevenueScan.figures).where(
                RevenueScan.merchant_id == b.id
            )
        ).all()
        hooks = db.session.execute(
            sa.select(
                MerchantWebhookEndpoint.url,
                MerchantWebhookEndpoint.enabled,
                WebhookDelivery.status,
                WebhookDelivery.attempts,
            ).join(WebhookDelivery, WebhookDelivery.endpoint_id == MerchantWebhookEndpoint.id)
        ).all()
        return row, users, keys, versions, sessions, cases, copies, mail, scans, hooks


def url_of(app: Flask, rule: Any, beta: dict[str, Any]) -> str:
    values = {
        "key_id": beta["key_id"],
        "version_id": beta["version_id"],
        "offer_id": "b_only_offer",
        "index": 0,
        "section": "reasons",
        "token": "not-a-reset-token",
        "kind": "dunning_1",
        "row_id": beta["row_id"],
        "experiment_id": "b_experiment",
        "scan_id": beta["scan_id"],
        "endpoint_id": beta["endpoint_id"],
        "delivery_id": beta["delivery_id"],
    }
    with app.test_request_context():
        return url_for(rule.endpoint, **{k: v for k, v in values.items() if k in rule.arguments})


def request(client: FlaskClient, method: str, url: str, token: str | None) -> Any:
    if method == "GET":
        return client.get(url, query_string={"kind": "discount"})
    return client.post(url, data={**FORM, "csrf_token": token or ""})


@pytest.mark.parametrize(("rule", "method"), ROUTES)
def test_a_user_of_another_merchant_cannot_see_or_change_it(
    app: Flask, client: FlaskClient, beta: dict[str, Any], rule: Any, method: str
) -> None:
    url = url_of(app, rule, beta)
    before = snapshot(app)

    signed_out = request(client, method, url, token=None)
    if rule.endpoint not in PUBLIC_ENDPOINTS:
        assert signed_out.status_code in (303, 400), signed_out.status_code  # 400: no CSRF token
        if signed_out.status_code == 303:
            assert signed_out.headers["Location"].startswith("/admin/login")
    assert snapshot(app) == before

    token = sign_in(client, "owner@acme.example")
    response = request(client, method, url, token)
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body
    for secret in (
        B_NAME,
        B_OFFER,
        B_EMAIL,
        beta["prefix"],
        B_STRIPE_KEY[-4:],
        "Beta copy",
        "9876",
        B_SUBJECT,
        B_CUSTOMER,
        B_PAYER,
        B_INVOICE,
        B_AMOUNT,
    ):
        assert secret not in body, (secret, body[:2000])
    assert snapshot(app) == before
