"""The CLI and the merchants' Python link helper."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient

from cancelpage import links
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug


def test_merchant_create_then_link_opens_the_flow(app: Flask, client: FlaskClient) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["merchant", "create", "shop", "--name", "Shop", "--allow-return-host", "shop.example"]
    )
    assert created.exit_code == 0, created.output
    assert "Created merchant 'shop' (preview mode)." in created.output
    result = runner.invoke(
        args=[
            "link",
            "shop",
            "--customer",
            "cus_1",
            "--subscription",
            "sub_1",
            "--return-url",
            "https://shop.example/account",
            "--attr",
            "plan=pro",
            "--attr",
            "mrr=4900",
        ]
    )
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("http://cancel.test/c/")
    page = client.get(url.removeprefix("http://cancel.test"), follow_redirects=True)
    assert page.status_code == 200
    assert 'name="reason"' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["merchant", "create", "Bad Slug!"], "slug must be"),
        (["merchant", "create", "shop2", "--stripe-key", "pk_test_123"], "starts with sk_ or rk_"),
        (["link", "nobody", "--customer", "c", "--subscription", "s"], "no merchant 'nobody'"),
        (
            ["link", "acme", "--customer", "c", "--subscription", "s", "--attr", "novalue"],
            "is not KEY=VALUE",
        ),
        (
            ["link", "acme", "--customer", "c", "--subscription", "s", "--attr", "bad key=1"],
            "must be letters, digits",
        ),
        (
            [
                "link",
                "acme",
                "--customer",
                "c",
                "--subscription",
                "s",
                "--return-url",
                "https://evil.example/",
            ],
            "is not allowed: use https:// (default port) on one of the merchant's allowed "
            "return hosts (shop.example)",
        ),
        (
            [
                "link",
                "acme",
                "--customer",
                "c",
                "--subscription",
                "s",
                "--return-url",
                "https://shop.example:8443/",
            ],
            "is not allowed",
        ),
    ],
)
def test_cli_refuses_bad_input_clearly(
    app: Flask, merchant: Any, args: list[str], message: str
) -> None:
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output


def test_merchant_create_refuses_a_duplicate(app: Flask, merchant: Any) -> None:
    result = app.test_cli_runner().invoke(args=["merchant", "create", "acme"])
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_live_merchant_key_is_encrypted_and_mode_is_live(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["merchant", "create", "live", "--stripe-key", "rk_test_abcdef1234"]
    )
    assert "(live mode)" in result.output
    with app.app_context():
        merchant = by_slug("live")
        assert merchant.live
        assert merchant.stripe_key_last4 == "1234"
        assert "rk_test" not in merchant.stripe_key_encrypted
        assert merchant.stripe_key() == "rk_test_abcdef1234"


def test_python_helper_needs_only_the_secret(
    app: Flask, client: FlaskClient, merchant: Any
) -> None:
    with app.app_context():
        secret = by_slug("acme").link_secrets[-1]
    url = links.sign_cancel_link(
        base_url="http://cancel.test/",
        merchant="acme",
        secret=secret,
        customer="cus_9",
        subscription="sub_9",
        attributes={"plan": "pro", "seats": 3},  # type: ignore[dict-item]
        locale="de",
    )
    response = client.get(url.removeprefix("http://cancel.test"))
    assert response.status_code == 303
    payload = links.verify(url.rsplit("/", 1)[1], [secret], "cancel", 60)
    assert payload.attributes == {"plan": "pro", "seats": "3"}
    assert (payload.customer, payload.subscription, payload.locale) == ("cus_9", "sub_9", "de")


@pytest.mark.parametrize(
    "url",
    [
        "https://elsewhere.example/account",
        "http://shop.example/account",
        "https://shop.example:8443/account",
        "https://user@shop.example/",
        "javascript:alert(1)",
    ],
)
def test_python_helper_refuses_a_return_url_that_is_not_allowed(url: str) -> None:
    with pytest.raises(ValueError, match="is not allowed: use https://"):
        links.sign_cancel_link(
            base_url="http://cancel.test/",
            merchant="acme",
            secret="s3cret",
            customer="cus_9",
            subscription="sub_9",
            return_url=url,
            allowed_return_hosts=["shop.example"],
        )


def test_python_helper_refuses_a_return_url_without_the_allowed_hosts() -> None:
    with pytest.raises(ValueError, match=r"allowed return hosts \(none\)"):
        links.sign_cancel_link(
            base_url="http://cancel.test/",
            merchant="acme",
            secret="s3cret",
            customer="cus_9",
            subscription="sub_9",
            return_url="https://shop.example/",
        )


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://shop.example/account", True),
        ("https://SHOP.example:443/account", True),
        ("https://shop.example:444/", False),
        ("http://shop.example/", False),
        ("http://shop.example:443/", False),
        ("https://shop.example:99999/", False),
        ("http://localhost/", False),  # not on the list
    ],
)
def test_the_return_host_check_compares_scheme_host_and_port(url: str, allowed: bool) -> None:
    assert links.host_allowed(url, ["shop.example"]) is allowed


def test_payload_carries_ids_only(app: Flask, merchant: Any) -> None:
    with app.app_context():
        secret = by_slug("acme").link_secrets[-1]
    token = links.sign(links.LinkPayload("acme", "cus_1", "sub_1"), [secret], "cancel")
    _, wire = links.URLSafeTimedSerializer("x").loads_unsafe(token)
    assert wire == {"m": "acme", "c": "cus_1", "s": "sub_1"}


def test_demo_command_seeds_a_preview_merchant_and_prints_links(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve", "--port", "5099"])
    assert result.exit_code == 0, result.output
    assert result.output.count("http://127.0.0.1:5099/c/") == 2
    with app.app_context():
        demo = by_slug("demo")
        assert demo is not None
        assert not demo.live
        assert db.session.get(type(demo), demo.id).flow_version_id is not None


def test_demo_app_on_another_origin_may_frame_the_demo_merchant(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve", "--port", "5099"])
    assert "The demo merchant's app, with the embed:\n  http://localhost:5100/" in result.output
    with app.app_context():
        assert by_slug("demo").frame_ancestors == ["http://localhost:5100"]
        page = render_template(
            "demo/embed_app.html", base="http://127.0.0.1:5099", links=[("One", "http://x/c/t")]
        )
    assert '<a href="http://x/c/t" data-cancelpage>' in page
    assert '<script src="http://127.0.0.1:5099/embed.js" defer></script>' in page
