"""The tamper-evident trail: every session's events chain; the verifier names the first broken
link after an edit, a deletion and a reordering, in the database and in an export."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from cancelpage import trail
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import SessionEvent


def walk(client: FlaskClient, start: Any, customer: str = "cus_test") -> None:
    """A whole walk: survey, an offer skipped, the cancel confirmed."""
    url = start(customer=customer)
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "cancel_now"})
    client.post(f"{url}/confirm", data={"action": "cancel"})


def events(app: Flask) -> list[SessionEvent]:
    return list(db.session.scalars(sa.select(SessionEvent).order_by(SessionEvent.id)))


def verdict_lines(app: Flask) -> list[str]:
    verdict = trail.verify_stored()
    return [str(b) for b in verdict.breaks]


@pytest.fixture
def walked(app: Flask, client: FlaskClient, merchant: Any, start: Any) -> None:
    walk(client, start)
    walk(client, start, customer="cus_other")


def test_every_event_is_a_link_of_its_sessions_chain(app: Flask, walked: None) -> None:
    with app.app_context():
        rows = events(app)
        kinds = [e.kind for e in rows if e.session_id == 1]
        assert kinds[0] == "opened"
        assert "outcome" in kinds
        assert [e.seq for e in rows if e.session_id == 1] == list(range(1, len(kinds) + 1))
        assert all(len(e.digest or "") == 64 for e in rows)
        verdict = trail.verify_stored()
        assert verdict.ok
        assert verdict.sessions == 2
        assert verdict.events == len(rows)


def test_an_edited_event_is_named(app: Flask, walked: None) -> None:
    with app.app_context():
        third = [e for e in events(app) if e.session_id == 1][2]
        db.session.execute(
            sa.update(SessionEvent)
            .where(SessionEvent.id == third.id)
            .values(data={**third.data, "reason": "unused"})
        )
        db.session.commit()
        assert verdict_lines(app) == [
            "session 1, event 3 (row 3): its content or its place does not match its digest"
            " (edited)"
        ]


def test_a_deleted_event_is_named(app: Flask, walked: None) -> None:
    with app.app_context():
        second = [e for e in events(app) if e.session_id == 2][1]
        db.session.execute(sa.delete(SessionEvent).where(SessionEvent.id == second.id))
        db.session.commit()
        (line,) = verdict_lines(app)
        assert line.startswith("session 2, event 3")
        assert line.endswith("event 2 is missing")


def test_a_deleted_newest_event_is_caught_by_the_head(app: Flask, walked: None) -> None:
    with app.app_context():
        last = [e for e in events(app) if e.session_id == 1][-1]
        db.session.execute(sa.delete(SessionEvent).where(SessionEvent.id == last.id))
        db.session.commit()
        (line,) = verdict_lines(app)
        assert f"the newest events after event {last.seq - 1} are missing" in line


def test_reordered_events_are_named(app: Flask, walked: None) -> None:
    """Two events swap places (their ids, so the listing order changes)."""
    with app.app_context():
        first, second = [e for e in events(app) if e.session_id == 1][1:3]
        ids = first.id, second.id
        db.session.execute(sa.update(SessionEvent).where(SessionEvent.id == ids[0]).values(id=-1))
        db.session.execute(
            sa.update(SessionEvent).where(SessionEvent.id == ids[1]).values(id=ids[0])
        )
        db.session.execute(sa.update(SessionEvent).where(SessionEvent.id == -1).values(id=ids[1]))
        db.session.commit()
        (line,) = verdict_lines(app)
        assert line.startswith("session 1, event 3 (row 2)")


def test_the_content_holds_no_token_or_email(app: Flask, walked: None) -> None:
    with app.app_context():
        merchant = by_slug("acme")
        assert merchant is not None
        text = trail.export_json(merchant)
    assert "@" not in text.replace("help@acme.example", "")
    for secret_word in ("token", "idempotency", "capability", "/s/", "/c/"):
        assert secret_word not in text


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_export_verifies_and_fails_after_an_edit(
    app: Flask, walked: None, fmt: str, tmp_path: Any
) -> None:
    runner = app.test_cli_runner()
    exported = runner.invoke(
        args=["audit", "export", "acme", "--format", fmt, "--customer", "cus_test"]
    )
    assert exported.exit_code == 0, exported.output
    path = tmp_path / f"trail.{fmt}"
    path.write_text(exported.output)
    verified = runner.invoke(args=["audit", "verify", "--file", str(path)])
    assert verified.exit_code == 0, verified.output
    assert "OK: every chain holds" in verified.output
    assert "in 1 sessions" in verified.output  # one customer's session only
    if fmt == "json":
        document = json.loads(exported.output)
        document["events"][1]["data"]["reason"] = "unused"
        path.write_text(json.dumps(document))
    else:
        path.write_text(exported.output.replace("too_expensive", "unused", 1))
    broken = runner.invoke(args=["audit", "verify", "--file", str(path)])
    assert broken.exit_code == 1
    assert "BROKEN: session 1, event 2 (row 2): its content or its place" in broken.output


def test_verify_command_on_the_database(app: Flask, walked: None) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "verify", "--merchant", "acme"]).exit_code == 0
    with app.app_context():
        db.session.execute(sa.update(SessionEvent).where(SessionEvent.id == 1).values(kind="x"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN: session 1, event 1 (row 1)" in result.output
