"""Shared fixtures: an app on a fresh database (SQLite, or PostgreSQL when DATABASE_URL is set).

The schema is built once per test process; each test starts from it with no rows (a copy of a
template SQLite file, or the PostgreSQL tables truncated), which keeps every test isolated at a
fraction of the cost of creating and dropping the tables each time.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import loopback_guard, stripe_support

from cancelpage import create_app
from cancelpage.config import normalise_database_url
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant
from cancelpage.models import Merchant

BASE_URL = "http://cancel.test"


# The suite talks to nothing but this machine (docs: RELIABILITY.md 33).
only_loopback = loopback_guard.only_loopback


# --- the database: schema once per process, no rows at the start of each test --------------


def postgres_url() -> str | None:
    """This process's PostgreSQL database: DATABASE_URL's, or a sibling per xdist worker."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    url = normalise_database_url(url)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    own = sa.make_url(url)
    name = f"{own.database}_{worker}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return own.set(database=name).render_as_string(hide_password=False)


def database_url(folder: Any) -> str:
    """The database a test (or a module's fixture) uses: PostgreSQL, else a file in `folder`."""
    return postgres_url() or f"sqlite:///{folder}/test.sqlite"


@pytest.fixture(scope="session")
def schema(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Build the tables once: in this process's PostgreSQL database, or a template SQLite file."""
    url = database_url(tmp_path_factory.mktemp("schema"))
    engine = sa.create_engine(url)
    db.metadata.drop_all(engine)
    db.metadata.create_all(engine)
    engine.dispose()
    return url


def start_empty(engine: sa.Engine) -> None:
    """Every table of the models, no rows, identities from 1 (PostgreSQL)."""
    tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    except sa.exc.ProgrammingError:  # a test dropped tables (migrations): build them again
        db.metadata.create_all(engine)
        start_empty(engine)


class SharedBytecode(jinja2.BytecodeCache):
    """Compiled templates shared by every app of the run (each test makes its own app)."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATES = SharedBytecode()


@pytest.fixture
def app_config(tmp_path: Path, schema: str) -> dict[str, Any]:
    if schema.startswith("sqlite:"):
        shutil.copyfile(sa.make_url(schema).database or "", tmp_path / "test.sqlite")
        url = f"sqlite:///{tmp_path}/test.sqlite"
    else:
        url = schema
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "PUBLIC_BASE_URL": BASE_URL,
        # Every test client is 127.0.0.1: the limit tests switch limits on for themselves.
        "RATELIMIT_ENABLED": False,
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    app.jinja_env.bytecode_cache = TEMPLATES
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with app.app_context():
            start_empty(db.engine)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def merchant(app: Flask) -> Merchant:
    """A preview-mode merchant (no Stripe key) allowing returns to shop.example."""
    with app.app_context():
        m = create_merchant("acme", "Acme <Analytics>", return_hosts=["shop.example"])
        m.default_return_url = "https://shop.example/account"
        m.support_email = "help@acme.example"
        db.session.commit()
        db.session.refresh(m)
        db.session.expunge(m)
        return m


@pytest.fixture
def live_merchant(app: Flask) -> Merchant:
    """A live merchant (test key) whose gateway is a recording client answering from fixtures."""
    with app.app_context():
        m = create_merchant(
            "live", "Live Co", stripe_key="sk_test_live123", return_hosts=["shop.example"]
        )
        db.session.commit()
        db.session.refresh(m)
        db.session.expunge(m)
        return m


class StripeStub:
    """The recording gateway installed for live merchants; swap the responder per test."""

    def __init__(self) -> None:
        self.responder = stripe_support.fixture_responder()
        self.gateway, self.recorder = stripe_support.recording_gateway(
            lambda req: self.responder(req)
        )

    @property
    def requests(self) -> list[Any]:
        return self.recorder.requests

    def writes(self) -> list[Any]:
        return [r for r in self.recorder.requests if r.method != "get"]


@pytest.fixture
def stripe_stub(app: Flask) -> StripeStub:
    stub = StripeStub()
    preview_factory = app.extensions["cancelpage.gateway"]
    app.extensions["cancelpage.gateway"] = lambda m: stub.gateway if m.live else preview_factory(m)
    return stub


@pytest.fixture
def make_link(app: Flask) -> Callable[..., str]:
    """Sign a cancel link (path only) for a merchant slug."""
    from cancelpage.cli.links import make_link as sign

    def make(
        slug: str = "acme",
        customer: str = "cus_test",
        subscription: str = "sub_test",
        **kwargs: Any,
    ) -> str:
        with app.app_context():
            return sign(slug, customer, subscription, **kwargs).removeprefix(BASE_URL)

    return make


@pytest.fixture
def start(client: FlaskClient, make_link: Callable[..., str]) -> Callable[..., str]:
    """Follow a fresh link; return the session's step URL."""

    def go(slug: str = "acme", **kwargs: Any) -> str:
        response = client.get(make_link(slug, **kwargs))
        assert response.status_code == 303, response.data
        location = response.headers["Location"]
        assert re.fullmatch(r"/s/[A-Za-z0-9_-]+", location)
        return location

    return go


@pytest.fixture
def smtp(app: Flask) -> Iterator[Any]:
    """A real SMTP server (aiosmtpd on 127.0.0.1) that the app's outbox sends to."""
    from support import mail_support

    sink = mail_support.SMTPSink()
    sink.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port, MAIL_TIMEOUT=5)
    yield sink
    sink.stop()


@pytest.fixture
def fake_stripe(stripe_stub: StripeStub) -> Any:
    """Live merchants' Stripe as an in-memory store of current objects (see recovery_support)."""
    from support import recovery_support

    fake = recovery_support.FakeStripe()
    stripe_stub.responder = fake.respond
    return fake


@pytest.fixture
def hooked(app: Flask, merchant: Merchant, live_merchant: Merchant) -> None:
    """Both test merchants accept webhooks signed with stripe_support.WEBHOOK_SECRET."""
    from cancelpage.merchants.store import by_slug

    with app.app_context():
        for slug in ("acme", "live"):
            found = by_slug(slug)
            assert found is not None
            found.webhook_secrets = [stripe_support.WEBHOOK_SECRET]
        db.session.commit()
