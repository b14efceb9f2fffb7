"""Settings form: every field with good and bad input; merchant copy reaches customers escaped."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import HX, add_user, post, sign_in, text

from cancelpage.extensions import db
from cancelpage.merchants import settings
from cancelpage.merchants.store import by_slug

GOOD = {
    "name": "Acme <b>Analytics</b>",
    "logo_url": "https://cdn.acme.example/logo.png",
    "brand_color": "#0B7DB1",
    "headline": "Wait <script>alert(1)</script>",
    "copy_survey_intro": "We read every answer.\nThank you!",
    "copy_survey_question": "Why <i>are</i> you leaving?",
    "copy_offer_intro": "A little something first:",
    "copy_confirm_intro": "Sorry to see you go.",
    "copy_done_saved": "Glad you stayed.",
    "copy_done_canceled": "Come back any time.",
    "support_email": "help@acme.example",
    "return_hosts": "app.acme.example\nAPP.acme.example, billing.acme.example",
    "default_return_url": "https://app.acme.example/account",
    "cancel_mode": "immediately",
    "link_lifetime_hours": "48",
    "default_locale": "de",
}


@pytest.fixture
def token(app: Flask, client: FlaskClient, merchant: Any) -> str:
    add_user(app, "acme", "owner@acme.example")
    return sign_in(client, "owner@acme.example")


def test_good_settings_are_saved(app: Flask, client: FlaskClient, token: str) -> None:
    response = post(client, "/admin/settings", token, GOOD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/settings#saved"
    page = text(client.get("/admin/settings"))
    # Beside the Save button, where the eye is, and only there.
    assert page.count("Settings saved.") == 1
    assert page.index("Save settings</button>") < page.index('id="saved"')
    assert "Wait &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    with app.app_context():
        m = by_slug("acme")
        assert m.name == "Acme <b>Analytics</b>"
        assert m.brand_color == "#0b7db1"
        assert m.return_hosts == ["app.acme.example", "billing.acme.example"]
        assert m.cancel_mode == "immediately"
        assert m.link_max_age == 48 * 3600
        assert m.default_locale == "de"
        assert m.support_email == "help@acme.example"
        assert m.copy == {
            k[len("copy_") :]: v.replace("\r\n", "\n")
            for k, v in GOOD.items()
            if k.startswith("copy_")
        }


def test_htmx_save_returns_the_form_fragment(client: FlaskClient, token: str) -> None:
    response = post(client, "/admin/settings", token, GOOD, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert body.strip().startswith('<form id="settings-form"')
    assert "Settings saved." in body
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Required."),
        ("name", "x" * 121, "Use at most 120 characters."),
        ("logo_url", "javascript:alert(1)", "Use an https:// address."),
        ("logo_url", "http://cdn.acme.example/logo.png", "plain http:// only works for localhost"),
        (
            "logo_url",
            "https://user:pw@cdn.acme.example/x.png",
            "Leave out user names and passwords.",
        ),
        ("logo_url", "https://cdn.acme.example/a b.png", "without spaces"),
        ("logo_url", "data:image/png;base64,AAAA", "Use an https:// address."),
        ("brand_color", "red", "Use a colour like #4f46e5"),
        ("brand_color", "#12345", "Use a colour like #4f46e5"),
        ("brand_color", "#1234567", "Use a colour like #4f46e5"),
        ("brand_color", "#12345g", "Use a colour like #4f46e5"),
        ("headline", "x" * 201, "Use at most 200 characters."),
        ("headline", "bell\x07", "Remove the control characters."),
        ("copy_survey_question", "y" * 201, "Use at most 200 characters."),
        ("copy_offer_intro", "z" * 301, "Use at most 300 characters."),
        ("support_email", "not an email", "Enter an email address like help@example.com."),
        (
            "support_email",
            "help;desk@other.example",
            "The email address contains invalid characters before the @-sign: &#39;;&#39;.",
        ),
        ("support_email", "help@desk", "It should have a period."),
        ("return_hosts", "https://app.acme.example", "is not a bare host name"),
        ("return_hosts", "app.acme.example/account", "is not a bare host name"),
        ("return_hosts", "app.acme.example:8443", "is not a bare host name"),
        ("return_hosts", "\n".join(f"h{i}.example" for i in range(21)), "List at most 20 hosts."),
        (
            "default_return_url",
            "https://elsewhere.example/",
            "must be one of the allowed return hosts",
        ),
        ("default_return_url", "ftp://app.acme.example/", "Use an https:// address."),
        ("cancel_mode", "whenever", "Choose one of the listed ways to cancel."),
        ("link_lifetime_hours", "0", "Enter a whole number of hours from 1 to 720"),
        ("link_lifetime_hours", "721", "Enter a whole number of hours from 1 to 720"),
        ("link_lifetime_hours", "2.5", "Enter a whole number of hours from 1 to 720"),
        ("link_lifetime_hours", "²", "Enter a whole number of hours from 1 to 720"),
        ("link_lifetime_hours", "9" * 5000, "Enter a whole number of hours from 1 to 720"),
        ("default_locale", "it", "Choose one of the listed languages."),
    ],
)
def test_bad_input_is_refused_next_to_its_field(
    app: Flask, client: FlaskClient, token: str, field: str, value: str, message: str
) -> None:
    response = post(client, "/admin/settings", token, {**GOOD, field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nothing was saved" in page
    error = page.index(f'id="{field}-error"')
    assert message in page[error : error + 300]
    with app.app_context():
        assert by_slug("acme").name == "Acme <Analytics>"  # nothing changed


def test_localhost_logo_over_http_is_allowed(app: Flask, client: FlaskClient, token: str) -> None:
    form = {**GOOD, "logo_url": "http://localhost:5000/logo.png", "default_return_url": ""}
    assert post(client, "/admin/settings", token, form).status_code == 303
    with app.app_context():
        assert by_slug("acme").default_return_url is None


def test_copy_preview_is_escaped(client: FlaskClient, token: str) -> None:
    response = client.get(
        "/admin/settings/copy-preview", query_string={"copy_survey_intro": "<b>hi</b>"}, headers=HX
    )
    body = response.get_data(as_text=True)
    assert "&lt;b&gt;hi&lt;/b&gt;" in body
    assert "<b>hi" not in body
    assert "<html" not in body


def test_customers_see_the_settings_escaped(
    app: Flask, client: FlaskClient, token: str, start: Any
) -> None:
    post(client, "/admin/settings", token, {**GOOD, "cancel_mode": "period_end"})
    url = start()
    survey = text(client.get(url))
    assert "Wait &lt;script&gt;alert(1)&lt;/script&gt;" in survey
    assert "We read every answer." in survey
    assert "Why &lt;i&gt;are&lt;/i&gt; you leaving?" in survey
    assert 'src="https://cdn.acme.example/logo.png"' in survey
    assert 'alt="Acme &lt;b&gt;Analytics&lt;/b&gt;"' in survey
    assert "help@acme.example" in survey
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    assert "A little something first:" in text(client.get(url))
    client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "cancel_now"})
    assert "Sorry to see you go." in text(client.get(url))
    client.post(f"{url}/confirm", data={"action": "cancel"})
    done = text(client.get(url))
    assert "Come back any time." in done
    assert "Glad you stayed." not in done
    assert 'href="https://app.acme.example/account"' in done
    css = client.get("/brand/acme.css").get_data(as_text=True)
    assert "--brand:#0b7db1" in css


def test_every_copy_key_is_read_by_a_customer_template(app: Flask) -> None:
    import pathlib

    folder = pathlib.Path(app.root_path, "templates", "cancel")
    source = "".join(p.read_text() for p in folder.glob("*.html"))
    for field in settings.COPY_FIELDS:
        assert f'texts.copy("{field.key}")' in source, field.key


def test_settings_form_shows_current_values(app: Flask, client: FlaskClient, token: str) -> None:
    with app.app_context():
        m = by_slug("acme")
        m.copy = {"survey_intro": "Hello <there>"}
        db.session.commit()
    page = client.get("/admin/settings").get_data(as_text=True)
    assert ">Hello &lt;there&gt;</textarea>" in page
    assert 'value="168"' in page  # 7 days in hours
    assert 'name="return_hosts"' in page
    assert "shop.example</textarea>" in page


def test_saving_keeps_translated_copy(app: Flask, client: FlaskClient, token: str) -> None:
    with app.app_context():
        m = by_slug("acme")
        m.copy = {"survey_intro": "Old", "de": {"survey_intro": "Alt"}}
        db.session.commit()
    post(client, "/admin/settings", token, GOOD)
    with app.app_context():
        copy = by_slug("acme").copy
    assert copy["de"] == {"survey_intro": "Alt"}
    assert copy["survey_intro"] == "We read every answer.\nThank you!"


# ---- the brand colour: readable, and shown at once ----------------------------------------------


@pytest.mark.parametrize("colour", ["#ffff00", "#ffffff", "#22c55e"])
def test_a_brand_colour_white_text_cannot_be_read_on_is_refused(
    app: Flask, client: FlaskClient, token: str, colour: str
) -> None:
    response = post(client, "/admin/settings", token, {**GOOD, "brand_color": colour})
    assert response.status_code == 200
    page = text(response)
    message = page[page.index('id="brand_color-error"') :][:300]
    assert "unreadable" in message
    assert "Try #" in message
    with app.app_context():
        assert by_slug("acme").brand_color != colour


def test_a_colour_below_aa_is_kept_with_a_warning_and_a_darker_shade(
    client: FlaskClient, token: str
) -> None:
    response = post(
        client, "/admin/settings", token, {**GOOD, "brand_color": "#3b82f6"}, headers=HX
    )
    body = text(response)
    assert "Settings saved." in body
    assert "contrast of 3.7:1; WCAG AA asks for 4.5:1" in body
    suggested = re.search(r"such as (#[0-9a-f]{6})", body).group(1)
    assert settings.contrast_with_white(suggested) >= 4.5
    assert settings.contrast_with_white("#4f46e5") >= 4.5  # the default needs no warning


def test_a_saved_colour_gets_a_new_stylesheet_url(client: FlaskClient, token: str) -> None:
    before = text(client.get("/admin/settings"))
    response = post(client, "/admin/settings", token, GOOD, headers=HX)
    after = text(client.get("/admin/settings"))
    assert 'href="/brand/acme.css?v=0b7db1"' in after
    assert 'href="/brand/acme.css?v=0b7db1"' not in before
    # With htmx the page's stylesheet link is swapped in place (out of band).
    assert 'id="brand-css" href="/brand/acme.css?v=0b7db1" hx-swap-oob="true"' in text(response)


def test_empty_copy_fields_show_the_default_text(client: FlaskClient, token: str) -> None:
    page = text(client.get("/admin/settings"))
    assert (
        'What is the main reason you&#39;re cancelling?</span> <span class="help">(the default)'
        in page
    )
    assert "(the default text)" not in page
    preview = client.get("/admin/settings/copy-preview?copy_survey_question=", headers=HX)
    assert "What is the main reason" in text(preview)
