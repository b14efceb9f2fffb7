"""Shared set-up for the benchmarks: an app on its own database with one merchant."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402

from cancelpage import create_app  # noqa: E402
from cancelpage.cli import make_link  # noqa: E402
from cancelpage.extensions import db  # noqa: E402
from cancelpage.merchants import create_merchant  # noqa: E402

SECRET_KEY = "bench-secret-key"


def database_url(workdir: Path) -> str:
    """PostgreSQL when DATABASE_URL is set, else a SQLite file in the bench's work folder."""
    url = os.environ.get("DATABASE_URL")
    return url if url else f"sqlite:///{workdir}/bench.sqlite"


def bench_app(workdir: Path, **config: Any) -> Flask:
    """A fresh schema with the merchant "acme" (preview mode unless a key is given)."""
    from cancelpage.config import normalise_database_url

    app = create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url(workdir)),
            "SEED_DEMO": False,
            "RATELIMIT_ENABLED": False,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            **config,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        create_merchant("acme", "Acme", return_hosts=["127.0.0.1"])
        db.session.commit()
    return app


def link(app: Flask, n: int, customer: str | None = None) -> str:
    """A cancel link path for a price-sensitive customer (the discount offer comes first)."""
    with app.app_context():
        attributes = {"plan": "Pro", "mrr": "4900"}
        url = make_link("acme", customer or f"cus_{n}", f"sub_{n}", None, attributes)
    return url.removeprefix(app.config["PUBLIC_BASE_URL"])
