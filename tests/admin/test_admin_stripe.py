"""Stripe connection: key checks on the wire, the dashboard's key form, preview/live switch,
webhook secrets, link secrets, and secrets encrypted at rest (with key rotation)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support
from support.admin_support import HX, add_user, other_app, post, sign_in, text

from cancelpage import billing
from cancelpage.billing import RecordedRequest, RecordingHTTPClient
from cancelpage.extensions import db
from cancelpage.merchants import vault
from cancelpage.merchants.store import by_slug, create_merchant

TEST_KEY = "rk_test_51AbCdEfGhIjKlMnOp1234"
PROBED = [
    "/v1/subscriptions",
    "/v1/customers",
    "/v1/coupons",
    "/v1/prices",
    "/v1/products",
    "/v1/billing_portal/configurations",
    "/v1/invoices",  # the revenue scan's one extra read
]


def lists_except(forbidden: set[str], status: int = 403) -> Any:
    """Answer every list call with an empty list, except `forbidden` paths with `status`."""

    def respond(req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if req.path in forbidden:
            return status, stripe_support.default_error_body(status)
        return 200, {"object": "list", "data": [], "has_more": False, "url": req.path}

    return respond


def check(responder: Any, key: str = TEST_KEY) -> tuple[billing.KeyCheck, RecordingHTTPClient]:
    recorder = RecordingHTTPClient(responder)
    return billing.check_key(key, http_client=recorder), recorder


# ---- billing.check_key on the wire -------------------------------------------------------------


def test_a_complete_key_is_usable_after_one_read_per_permission() -> None:
    result, recorder = check(lists_except(set()))
    assert result.usable
    assert result.messages == ()
    assert (result.mode, result.kind, result.last4) == ("test", "restricted", "1234")
    assert [(r.method, r.path, r.params) for r in recorder.requests] == [
        ("get", path, {"limit": "1"}) for path in PROBED
    ]
    assert all(r.stripe_version == billing.API_VERSION for r in recorder.requests)
    assert all(r.method == "get" for r in recorder.requests)  # nothing is written


def test_a_key_without_invoice_reads_works_and_names_what_the_scan_needs() -> None:
    result, _ = check(lists_except({"/v1/invoices"}))
    assert result.usable
    assert result.messages == ()
    assert result.scan_messages == (
        "Invoices: read access needed to run the Revenue Scan (failed and recovered payments).",
    )


def test_missing_permissions_are_named_in_plain_words() -> None:
    result, _ = check(lists_except({"/v1/subscriptions", "/v1/billing_portal/configurations"}))
    assert not result.usable
    assert result.refusal is None
    assert result.messages == (
        "Subscriptions: write access needed to read subscriptions, apply offers and cancel.",
        "Customer portal: write access needed to send customers to Stripe's portal to update a "
        "card or finish cancelling, and to keep cancelpage's portal configuration.",
    )
    assert [p.name for p in result.missing] == ["subscriptions", "billing_portal"]


def test_a_key_without_customer_portal_is_told_it_needs_customer_portal_write() -> None:
    result, recorder = check(lists_except({"/v1/billing_portal/configurations"}))
    assert not result.usable
    assert [(p.label, p.access) for p in result.missing] == [("Customer portal", "write")]
    assert result.messages[0].startswith("Customer portal: write access needed")
    assert "portal configuration" in result.messages[0]
    assert "/v1/billing_portal/configurations" in [r.path for r in recorder.requests]


def test_a_key_stripe_does_not_know_is_refused() -> None:
    result, recorder = check(
        lists_except({"/v1/subscriptions"}, status=401), key="sk_live_" + "x" * 24
    )
    assert (result.mode, result.kind) == ("live", "secret")
    assert result.refusal
    assert "does not accept this key" in result.refusal
    assert len(recorder.requests) == 1  # no point asking further


def test_stripe_unreachable_raises() -> None:
    with pytest.raises(billing.StripeUnavailable):
        check(stripe_support.fault_responder([500, 500, 500, 500]))


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("pk_test_51AbCdEfGhIjKlMnOp", "This is a publishable key (pk_…)"),
        ("whsec_abcdefghijklmnop", "This is a webhook signing secret (whsec_…)"),
        ("sk_51AbCdEfGhIjKlMnOp", "This key looks incomplete"),
        ("rk_test_short", "This key looks incomplete"),
        ("sk_test_abc def ghi jkl", "This key looks incomplete"),
        ("hello", "This does not look like a Stripe API key"),
        ("", "This does not look like a Stripe API key"),
    ],
)
def test_wrong_kinds_of_key_are_refused_without_any_request(key: str, message: str) -> None:
    result, recorder = check(lists_except(set()), key=key)
    assert result.refusal is not None
    assert result.refusal.startswith(message)
    assert recorder.requests == []


# ---- the dashboard ---------------------------------------------------------------------------


@pytest.fixture
def recorder(app: Flask) -> RecordingHTTPClient:
    """Key checks in the app go to a recording client (all permissions present by default)."""
    rec = RecordingHTTPClient(lists_except(set()))
    app.extensions["cancelpage.key_checker"] = lambda key: billing.check_key(key, http_client=rec)
    return rec


@pytest.fixture
def signed_in(app: Flask, client: FlaskClient, merchant: Any) -> str:
    add_user(app, "acme", "owner@acme.example")
    return sign_in(client, "owner@acme.example")


def test_pasting_a_good_key_saves_it_and_stays_in_preview(
    app: Flask, client: FlaskClient, signed_in: str, recorder: RecordingHTTPClient
) -> None:
    response = post(client, "/admin/stripe/key", signed_in, {"api_key": f"  {TEST_KEY} "})
    assert response.status_code == 303
    page = text(client.get("/admin/stripe"))
    assert "Key ending in 1234 checked and saved (Stripe test mode)." in page
    assert "…1234" in page
    assert TEST_KEY not in page
    assert "Go live" in page
    with app.app_context():
        m = by_slug("acme")
        assert m.stripe_key() == TEST_KEY
        assert not m.live
        assert m.preview_mode
        assert m.stripe_key_check["mode"] == "test"
        assert m.stripe_key_check["kind"] == "restricted"
    switched = post(client, "/admin/stripe/mode", signed_in, {"mode": "live"}, headers=HX)
    assert switched.status_code == 200
    assert "<html" not in switched.get_data(as_text=True)
    assert "Live: customers&#39; choices now go to Stripe." in text(switched)
    with app.app_context():
        assert by_slug("acme").live
    post(client, "/admin/stripe/mode", signed_in, {"mode": "preview"})
    with app.app_context():
        assert not by_slug("acme").live


def test_a_key_missing_permissions_is_explained_and_not_saved(
    app: Flask, client: FlaskClient, signed_in: str, recorder: RecordingHTTPClient
) -> None:
    recorder._responder = lists_except({"/v1/coupons"})
    response = post(client, "/admin/stripe/key", signed_in, {"api_key": TEST_KEY})
    page = text(response)
    assert response.status_code == 200
    assert "The key ending in 1234 was not saved." in page
    assert "Coupons: write access needed to create the coupons behind discount offers." in page
    assert "edit the key's permissions" in page
    with app.app_context():
        assert by_slug("acme").stripe_key_encrypted is None


@pytest.mark.parametrize(
    "key", ["pk_live_51AbCdEfGhIjKlMnOp", "whsec_1234567890abcdef", "nonsense"]
)
def test_wrong_keys_in_the_form_are_refused_without_requests(
    app: Flask, client: FlaskClient, signed_in: str, recorder: RecordingHTTPClient, key: str
) -> None:
    page = text(post(client, "/admin/stripe/key", signed_in, {"api_key": key}, headers=HX))
    assert "was not saved" in page
    assert key not in page
    assert recorder.requests == []
    with app.app_context():
        assert by_slug("acme").stripe_key_encrypted is None


def test_stripe_down_while_checking_saves_nothing(
    app: Flask, client: FlaskClient, signed_in: str, recorder: RecordingHTTPClient
) -> None:
    recorder._responder = stripe_support.fault_responder([503] * 4)
    page = text(post(client, "/admin/stripe/key", signed_in, {"api_key": TEST_KEY}))
    assert "Stripe could not be reached, so the key was not checked or saved." in page
    with app.app_context():
        assert by_slug("acme").stripe_key_encrypted is None


def test_going_live_needs_a_key_and_removing_it_returns_to_preview(
    app: Flask, client: FlaskClient, signed_in: str, recorder: RecordingHTTPClient
) -> None:
    with app.app_context():
        assert "Connect a Stripe key" not in text(client.get("/admin/stripe"))
    refused = post(client, "/admin/stripe/mode", signed_in, {"mode": "live"})
    assert "Connect a Stripe key before switching to live." in text(refused)
    post(client, "/admin/stripe/key", signed_in, {"api_key": TEST_KEY})
    post(client, "/admin/stripe/mode", signed_in, {"mode": "live"})
    post(client, "/admin/stripe/key/remove", signed_in)
    with app.app_context():
        m = by_slug("acme")
        assert m.stripe_key_encrypted is None
        assert m.stripe_key_last4 is None
        assert not m.live


def test_webhook_secrets_up_to_two(app: Flask, client: FlaskClient, signed_in: str) -> None:
    first, second = "whsec_" + "a" * 32 + "wxyz", "whsec_" + "b" * 32 + "abcd"
    assert (
        post(client, "/admin/stripe/webhook-secrets", signed_in, {"secret": first}).status_code
        == 303
    )
    page = text(
        post(client, "/admin/stripe/webhook-secrets", signed_in, {"secret": second}, headers=HX)
    )
    assert "whsec_…wxyz" in page
    assert "whsec_…abcd" in page
    assert first not in page
    for bad, message in [
        ("sk_test_123456789012", "A webhook signing secret starts with whsec_"),
        (first, "This secret is already saved."),
        ("whsec_" + "c" * 32, "At most 2 secrets"),
    ]:
        assert message in text(
            post(client, "/admin/stripe/webhook-secrets", signed_in, {"secret": bad})
        )
    post(client, "/admin/stripe/webhook-secrets/0/remove", signed_in)
    assert "That secret is no longer there." in text(
        post(client, "/admin/stripe/webhook-secrets/5/remove", signed_in)
    )
    with app.app_context():
        assert by_slug("acme").webhook_secrets == [second]


def test_link_secrets_generate_rotate_remove(
    app: Flask, client: FlaskClient, signed_in: str, make_link: Any
) -> None:
    old_link = make_link()
    response = post(client, "/admin/link-secrets", signed_in)
    assert response.status_code == 200  # shown once, in this response only
    shown = re.search(r'<code class="reveal">([^<]+)</code>', response.get_data(as_text=True))
    assert shown
    with app.app_context():
        secrets = by_slug("acme").link_secrets
    assert secrets[-1] == shown.group(1)
    assert len(secrets) == 2
    assert shown.group(1) not in text(client.get("/admin/developers"))
    new_link = make_link()
    assert client.get(old_link).status_code == 303  # the old secret still verifies
    assert client.get(new_link).status_code == 303
    post(client, "/admin/link-secrets/0/remove", signed_in)
    assert client.get(make_link(customer="cus_other")).status_code == 303
    with app.app_context():
        assert by_slug("acme").link_secrets == [shown.group(1)]
    refused = post(client, "/admin/link-secrets/0/remove", signed_in)
    assert "This is the only secret" in text(refused)


def test_a_removed_link_secret_stops_verifying(
    app: Flask, client: FlaskClient, signed_in: str, make_link: Any
) -> None:
    old_link = make_link()
    post(client, "/admin/link-secrets", signed_in)
    post(client, "/admin/link-secrets/0/remove", signed_in)
    assert client.get(old_link).status_code == 404


# ---- at rest ---------------------------------------------------------------------------------

SECRET_PREFIX = re.compile(r"(?<![A-Za-z0-9_-])(sk_|rk_|whsec_)")


def dump(app: Flask) -> str:
    """Every row of every table, as text (what a database dump would contain)."""
    lines = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)):
                lines.append(f"{table.name}: " + " | ".join(str(v) for v in row))
    return "\n".join(lines)


def test_a_database_dump_holds_no_stripe_secret(
    app: Flask,
    client: FlaskClient,
    signed_in: str,
    recorder: RecordingHTTPClient,
    live_merchant: Any,
) -> None:
    webhook = "whsec_" + "Q" * 32
    post(client, "/admin/stripe/key", signed_in, {"api_key": TEST_KEY})
    post(client, "/admin/stripe/webhook-secrets", signed_in, {"secret": webhook})
    post(client, "/admin/api-keys", signed_in, {"name": "Backend"})
    text_dump = dump(app)
    assert "acme" in text_dump
    assert "merchant_user" in text_dump
    assert "api_key" in text_dump
    for secret in (TEST_KEY, webhook, "sk_test_live123"):
        assert secret not in text_dump
    # No value starts like a Stripe secret. (Fernet ciphertext is URL-safe base64 and always
    # starts with "gAAAAA"; a three-letter run such as "sk_" may occur inside it by chance.)
    assert not SECRET_PREFIX.search(text_dump), SECRET_PREFIX.search(text_dump)


def test_keys_new_and_rotate(app: Flask, app_config: dict[str, Any]) -> None:
    old_key = Fernet.generate_key().decode()
    with other_app(app_config, ENCRYPTION_KEYS=[old_key]) as other:
        rotate_with_cli(other, old_key)


def rotate_with_cli(app: Flask, old_key: str) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "new"])
    new_key = result.output.strip()
    assert result.exit_code == 0
    assert len(new_key) == 44
    assert Fernet(new_key.encode())
    with app.app_context():
        shop = create_merchant("shop", stripe_key="sk_test_rotate123456")
        shop.webhook_secrets = ["whsec_rotate12345678"]
        db.session.commit()
        before = (shop.stripe_key_encrypted, shop.link_secrets_encrypted)
    app.config["ENCRYPTION_KEYS"] = [new_key, old_key]
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 3 stored secrets with the newest key." in result.output
    app.config["ENCRYPTION_KEYS"] = [new_key]  # the old key removed: everything still reads
    with app.app_context():
        shop = by_slug("shop")
        assert shop.stripe_key() == "sk_test_rotate123456"
        assert shop.webhook_secrets == ["whsec_rotate12345678"]
        assert len(shop.link_secrets) == 1
        assert (shop.stripe_key_encrypted, shop.link_secrets_encrypted) != before
    app.config["ENCRYPTION_KEYS"] = [old_key]
    with app.app_context(), pytest.raises(vault.VaultError):
        by_slug("shop").stripe_key()
