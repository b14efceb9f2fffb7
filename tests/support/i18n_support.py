"""Helpers for the language tests: reading a page, its heading and lang, one session, merchants."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant
from cancelpage.models import CancelSession

HX = {"HX-Request": "true"}
TRANSLATED = ("de", "fr", "es")
DEC_31_2026 = int(datetime(2026, 12, 31, 12, tzinfo=UTC).timestamp())


def page(response: Any) -> str:
    """The response's HTML with whitespace runs collapsed (no-break spaces are kept)."""
    return re.sub(r"[ \t\r\n]+", " ", response.get_data(as_text=True))


def heading(response: Any) -> str:
    match = re.search(r'<h1 id="step-title"[^>]*>(.*?)</h1>', page(response))
    assert match, page(response)
    return match.group(1)


def html_lang(response: Any) -> str:
    match = re.search(r'<html lang="([^"]*)">', response.get_data(as_text=True))
    assert match
    return match.group(1)


def one_session(app: Flask) -> CancelSession:
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        db.session.expunge(session)
        return session


def set_snapshot(app: Flask, **values: Any) -> None:
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        session.snapshot = {**session.snapshot, **values}
        db.session.commit()


def add_merchant(
    app: Flask,
    slug: str,
    flow: dict[str, Any] | None = None,
    default_locale: str = "en",
    **fields: Any,
) -> None:
    with app.app_context():
        merchant = create_merchant(slug, slug.title(), flow_data=flow)
        merchant.default_locale = default_locale
        for name, value in fields.items():
            setattr(merchant, name, value)
        db.session.commit()
