"""The embed's server side: embed.js and embed.css as any merchant page loads them, and the
outcome the hosted page hands its framed script (what it says, and that it says nothing more)."""

from __future__ import annotations

import gzip
import html
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug

EMBED_GZIP_BUDGET = 3 * 1024  # the issue's promise to merchants' pages


def outcome_on(page: str) -> dict[str, Any]:
    match = re.search(r'data-cancelpage-outcome="([^"]*)"', page)
    assert match, page
    return dict(json.loads(html.unescape(match.group(1))))


def served(client: FlaskClient, path: str) -> str:
    with client.get(path) as response:  # closes the static file it streams
        return response.get_data(as_text=True)


def allow_framing(app: Flask, *origins: str) -> None:
    with app.app_context():
        by_slug("acme").frame_ancestors = list(origins)
        db.session.commit()


@pytest.mark.parametrize(
    ("path", "mimetype"), [("/embed.js", "text/javascript"), ("/embed.css", "text/css")]
)
def test_assets_are_served_for_any_page_and_cached_briefly(
    client: FlaskClient, path: str, mimetype: str
) -> None:
    with client.get(path) as response:
        assert response.status_code == 200
        assert response.mimetype == mimetype
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_embed_script_is_small_and_needs_no_eval_or_inline_style(client: FlaskClient) -> None:
    script = served(client, "/embed.js")
    assert len(gzip.compress(script.encode(), compresslevel=6)) <= EMBED_GZIP_BUDGET
    for forbidden in ("eval(", "new Function", 'setAttribute("style"', ".style.", "innerHTML"):
        assert forbidden not in script
    # a wildcard target would hand the outcome to any page: the script never posts to "*"
    assert '"*"' not in script
    assert '"*"' not in served(client, "/static/framed.js")


def test_pages_name_the_framing_origins_only_when_the_merchant_allows_framing(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    assert "data-cancelpage-origins" not in client.get(start()).get_data(as_text=True)
    allow_framing(app, "https://app.acme.example", "https://*.acme.example")
    page = client.get(start()).get_data(as_text=True)
    assert 'data-cancelpage-origins="https://app.acme.example https://*.acme.example"' in page
    assert "/static/framed.js" in page


def test_saved_by_an_offer_reports_the_offer(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "accept"})
    page = client.get(url).get_data(as_text=True)
    assert outcome_on(page) == {"outcome": "saved", "offer": "discount_25_3m", "ends_at": None}
    assert "data-cancelpage-return" in page


def test_canceled_reports_when_it_ends_and_nothing_else(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(attributes={"period_end": "1893456000"})
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    outcome = outcome_on(client.get(url).get_data(as_text=True))
    assert outcome["outcome"] == "canceled"
    assert outcome["offer"] is None
    assert set(outcome) == {"outcome", "offer", "ends_at"}  # no ids, no links, no comment


def test_keeping_the_subscription_counts_as_saved(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "keep"})
    assert outcome_on(client.get(url).get_data(as_text=True)) == {
        "outcome": "saved",
        "offer": None,
        "ends_at": None,
    }


def test_the_portal_hand_off_is_reported_without_its_url(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    with app.app_context():
        by_slug("acme").cancel_mode = "portal"
        db.session.commit()
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    confirm = client.get(url).get_data(as_text=True)
    assert 'class="framed-only"' in confirm  # said in the flow: the portal opens in the top window
    redirect = client.post(f"{url}/confirm", data={"action": "cancel"})
    assert redirect.headers["Location"].startswith("https://billing.stripe.com/")
    page = client.get(url).get_data(as_text=True)
    assert outcome_on(page) == {"outcome": "portal", "offer": None, "ends_at": None}
    assert "billing.stripe.com" not in page
