"""A live server of the app on 127.0.0.1 (own SQLite file) and Debian's Chromium for Playwright."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from cancelpage import create_app
from cancelpage.cli.links import make_link
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    path = tmp_path_factory.mktemp("browser") / "browser.sqlite"
    app = create_app(
        {
            "SECRET_KEY": "browser-test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "RATE_LIMIT_PER_IP": "1000 per minute",
        }
    )
    with app.app_context():
        db.create_all()
        merchant = create_merchant("acme", "Acme Analytics", return_hosts=["127.0.0.1"])
        merchant.support_email = "help@acme.example"
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(live_app: Flask) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    live_app.config["PUBLIC_BASE_URL"] = base
    yield base
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()


@pytest.fixture
def new_link(live_app: Flask, live_server: str) -> Callable[[str], str]:
    """A fresh cancel link (its own session) for a price-sensitive customer."""

    def make(name: str) -> str:
        with live_app.app_context():
            return make_link(
                "acme",
                "cus_browser",
                "sub_browser",
                f"{live_server}/healthz",
                {"plan": "Pro", "mrr": "4900", "run": name},
            )

    return make


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
