"""The outbox worker against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from support.mail_support import SMTPSink, body_of

from cancelpage import links
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import EmailSuppression, Merchant, OutboxEmail, RecoveryCase, utcnow
from cancelpage.recovery import emails, outbox

ROOT = Path(__file__).resolve().parents[2]


def queue_emails(app: Flask, count: int, *, slug: str = "acme", kind: str = "dunning_1") -> None:
    """``count`` open dunning cases, each with its first email due now."""
    with app.app_context():
        merchant = by_slug(slug)
        assert merchant is not None
        for n in range(count):
            case = RecoveryCase(
                merchant_id=merchant.id,
                kind="payment_failed",
                ref=f"in_{n}",
                customer_id=f"cus_{n}",
                subscription_id=f"sub_{n}",
                invoice_id=f"in_{n}",
                amount_due=1500,
                currency="usd",
            )
            db.session.add(case)
            db.session.flush()
            outbox.queue(
                merchant,
                kind=kind,
                dedupe_key=f"case:{case.id}:{kind}",
                to_address=f"customer{n}@example.com",
                customer_id=f"cus_{n}",
                locale="en",
                data={"amount": 1500, "currency": "usd", "final": False},
                case=case,
            )
        db.session.commit()


def rows(app: Flask) -> list[OutboxEmail]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)))
        db.session.expunge_all()
        return found


def drain(app: Flask, **kwargs: Any) -> outbox.DrainResult:
    with app.app_context():
        return outbox.drain(**kwargs)


def make_due(app: Flask) -> None:
    with app.app_context():
        db.session.execute(sa.update(OutboxEmail).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


# ---- the message -----------------------------------------------------------------------------


def test_the_message_as_received(app: Flask, merchant: Merchant, smtp: SMTPSink) -> None:
    with app.app_context():
        acme = by_slug("acme")
        assert acme is not None
        acme.logo_url = "https://acme.example/logo.png"
        acme.brand_color = "#0f766e"
        db.session.commit()
    queue_emails(app, 1)
    assert drain(app).sent == 1
    [message] = smtp.messages
    [row] = rows(app)
    assert message["To"] == "customer0@example.com"
    assert message["From"] == '"Acme <Analytics>" <cancelpage@localhost>'
    assert message["Reply-To"] == "help@acme.example"
    assert message["Subject"] == "Your payment to Acme <Analytics> didn't go through"
    assert message["Message-ID"] == row.message_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe, mailto = message["List-Unsubscribe"].split(", ")
    assert unsubscribe.startswith("<http://cancel.test/unsubscribe/")
    assert unsubscribe.endswith(">")
    assert mailto == "<mailto:help@acme.example?subject=unsubscribe>"
    raw = smtp.raw[0].decode()
    assert f"\r\nList-Unsubscribe: {unsubscribe}, {mailto}\r\n" in raw  # one line, not encoded
    assert message.get_content_type() == "multipart/alternative"
    text, html = body_of(message, "plain"), body_of(message, "html")
    assert "We tried to collect $15.00 for your Acme <Analytics> subscription" in text
    assert "Amount due: $15.00" in text
    assert "http://cancel.test/card/" in text
    assert unsubscribe[1:-1] in text
    assert "Acme &lt;Analytics&gt;" in html
    assert "Acme <Analytics>" not in html
    assert 'src="https://acme.example/logo.png"' in html
    assert "background:#0f766e" in html
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None
    assert row.claim_token is None


def test_the_body_and_the_header_carry_the_same_unsubscribe_link(
    app: Flask, merchant: Merchant, smtp: SMTPSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every signature differs, as two made either side of a second's boundary do.
    count = iter(range(100))
    sign = links.sign
    monkeypatch.setattr(links, "sign", lambda *args: f"{sign(*args)}{next(count)}")
    queue_emails(app, 1)
    assert drain(app).sent == 1
    [message] = smtp.messages
    unsubscribe = message["List-Unsubscribe"].split(", ")[0][1:-1]
    assert unsubscribe in body_of(message, "plain").split()  # the whole link, not a prefix
    assert f'href="{unsubscribe}"' in body_of(message, "html")


def test_links_come_from_configuration_not_the_request(
    app: Flask, client: Any, fake_stripe: Any, hooked: None, smtp: SMTPSink
) -> None:
    from support.recovery_support import event, invoice, post

    post(client, event("invoice.payment_failed", invoice()), headers={"Host": "evil.example"})
    drain(app)
    [message] = smtp.messages
    everything = message.as_string()
    assert "evil.example" not in everything
    assert "http://cancel.test/card/" in body_of(message, "plain")


def test_a_bad_brand_colour_never_reaches_the_html(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    with app.app_context():
        acme = by_slug("acme")
        assert acme is not None
        acme.brand_color = "red;x:y"
        db.session.commit()
    queue_emails(app, 1)
    drain(app)
    html = body_of(smtp.messages[0], "html")
    assert "red;x:y" not in html
    assert "background:#4f46e5" in html


# ---- failures and retries --------------------------------------------------------------------


def test_smtp_down_then_up_delivers_once(app: Flask, merchant: Merchant, smtp: SMTPSink) -> None:
    queue_emails(app, 3)
    smtp.stop()
    down = drain(app)
    assert (down.sent, down.failed) == (0, 1)  # one try, then the pass stops
    first, *others = rows(app)
    assert first.status == "pending"
    assert first.attempts == 1
    assert "cannot connect to 127.0.0.1" in (first.last_error or "")
    assert first.due_at > utcnow() + timedelta(seconds=50)  # backed off
    assert [(r.status, r.attempts) for r in others] == [("pending", 0), ("pending", 0)]
    smtp.start()
    up = drain(app)
    assert up.sent == 2  # the backed-off row waits for its time
    make_due(app)
    assert drain(app).sent == 1
    assert drain(app).handled == 0
    make_due(app)
    assert drain(app).handled == 0
    recipients = Counter(m["To"] for m in smtp.messages)
    assert recipients == {f"customer{n}@example.com": 1 for n in range(3)}
    assert {(r.status, r.last_error) for r in rows(app)} == {("sent", None)}


def test_backoff_doubles_and_the_last_error_is_kept(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 1)
    smtp.stop()
    waits = []
    for _ in range(3):
        make_due(app)
        before = utcnow()
        drain(app)
        waits.append(round((rows(app)[0].due_at - before).total_seconds()))
    assert waits == [60, 120, 240]
    assert rows(app)[0].attempts == 3


def test_after_the_last_attempt_the_email_is_dead_not_deleted(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    app.config["MAIL_MAX_ATTEMPTS"] = 2
    queue_emails(app, 1)
    smtp.stop()
    for _ in range(3):
        make_due(app)
        drain(app)
    [row] = rows(app)
    assert (row.status, row.attempts) == ("dead", 2)
    result = app.test_cli_runner().invoke(args=["email", "outbox", "acme", "--status", "dead"])
    assert "dunning_1" in result.output
    assert "dead" in result.output
    assert "cannot connect" in result.output
    smtp.start()
    requeued = app.test_cli_runner().invoke(args=["email", "requeue", "acme", str(row.id)])
    assert requeued.exit_code == 0
    assert drain(app).sent == 1
    assert len(smtp.messages) == 1


def test_a_refused_recipient_is_dead_at_once_and_others_still_go(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    smtp.refuse["customer0@example.com"] = "550 5.1.1 No such user"
    smtp.refuse["customer1@example.com"] = "451 4.3.0 Try again later"
    queue_emails(app, 3)
    result = drain(app)
    assert (result.sent, result.failed, result.dead) == (1, 1, 1)
    assert [r.status for r in rows(app)] == ["dead", "pending", "sent"]
    assert "550" in (rows(app)[0].last_error or "")


def test_suppressed_addresses_are_checked_at_send_time(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 2)
    with app.app_context():
        # Added behind outbox.suppress's back: the worker must still honour it.
        db.session.add(EmailSuppression(merchant_id=merchant.id, email="customer0@example.com"))
        db.session.commit()
    result = drain(app)
    assert (result.sent, result.suppressed) == (1, 1)
    assert [m["To"] for m in smtp.messages] == ["customer1@example.com"]
    assert [r.status for r in rows(app)] == ["suppressed", "sent"]


def test_a_closed_case_stops_its_email_at_send_time(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 1)
    with app.app_context():
        db.session.execute(sa.update(RecoveryCase).values(status="recovered"))
        db.session.commit()
    assert drain(app).canceled == 1
    assert smtp.messages == []
    assert [(r.status, r.last_error) for r in rows(app)] == [("canceled", "case recovered")]


def test_a_case_closed_while_its_batch_is_sent_stops_its_email(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 3)

    class PaidMeanwhile(emails.SMTPTransport):
        def send(self, message: Any) -> None:
            super().send(message)
            # The second customer pays while the first email goes out (another connection,
            # as the webhook endpoint would).
            with db.engine.begin() as conn:
                conn.execute(
                    sa.update(RecoveryCase)
                    .where(RecoveryCase.ref == "in_1")
                    .values(status="recovered")
                )

    with app.app_context():
        result = outbox.drain(transport=PaidMeanwhile(app.config))
    assert (result.sent, result.canceled) == (2, 1)
    assert [m["To"] for m in smtp.messages] == ["customer0@example.com", "customer2@example.com"]
    assert [(r.status, r.last_error) for r in rows(app)] == [
        ("sent", None),
        ("canceled", "case recovered"),
        ("sent", None),
    ]


def test_a_claim_left_by_a_dead_worker_is_taken_over(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 2)
    with app.app_context():
        first = db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)).first()
        assert first is not None
        first.status, first.claim_token = "sending", "deadworker"
        first.claimed_until = utcnow() + timedelta(minutes=4)  # lease still running
        db.session.commit()
    assert drain(app).sent == 1  # only the free row
    with app.app_context():
        db.session.execute(
            sa.update(OutboxEmail)
            .where(OutboxEmail.claim_token == "deadworker")
            .values(claimed_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert drain(app).sent == 1  # the lease ran out: taken over
    assert sorted(m["To"] for m in smtp.messages) == [
        "customer0@example.com",
        "customer1@example.com",
    ]


def test_an_unrenderable_row_does_not_block_the_queue(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 2)
    with app.app_context():
        first = db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)).first()
        assert first is not None
        first.kind = "no_such_kind"
        db.session.commit()
    result = drain(app)
    assert (result.dead, result.sent) == (1, 1)
    assert rows(app)[0].last_error == "cannot render: KeyError"


# ---- many rows, several workers --------------------------------------------------------------


def test_memory_stays_flat_one_batch_at_a_time(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 45)
    seen: list[int] = []

    class Watching(emails.SMTPTransport):
        def send(self, message: Any) -> None:
            seen.append(len(db.session.identity_map))
            super().send(message)

    with app.app_context():
        result = outbox.drain(batch_size=10, transport=Watching(app.config))
    assert result.sent == 45
    assert len(smtp.messages) == 45
    # rows, their cases, one merchant, the next row's state: never the whole outbox
    assert max(seen) <= 10 * 2 + 3


def test_two_workers_send_each_email_exactly_once(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 40)
    smtp.delay = 0.005
    barrier = threading.Barrier(2)
    results: list[outbox.DrainResult] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                barrier.wait()
                results.append(outbox.drain(batch_size=3))
                db.session.remove()
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sum(r.sent for r in results) == 40
    assert all(r.sent > 0 for r in results), [r.sent for r in results]  # both really worked
    ids = Counter(m["Message-ID"] for m in smtp.messages)
    assert len(ids) == 40
    assert set(ids.values()) == {1}
    assert {r.status for r in rows(app)} == {"sent"}


# ---- the CLI ---------------------------------------------------------------------------------


def test_worker_once_drains_and_reports(app: Flask, merchant: Merchant, smtp: SMTPSink) -> None:
    queue_emails(app, 2)
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 2, retrying 0, dead 0" in result.output
    assert len(smtp.messages) == 2


def test_worker_loop_sends_and_stops_on_sigterm(
    app: Flask, app_config: dict[str, Any], merchant: Merchant, smtp: SMTPSink
) -> None:
    queue_emails(app, 1)
    env = {
        **os.environ,
        "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "CANCELPAGE_SECRET_KEY": app_config["SECRET_KEY"],
        "CANCELPAGE_PUBLIC_BASE_URL": app_config["PUBLIC_BASE_URL"],
        "CANCELPAGE_MAIL_SERVER": "127.0.0.1",
        "CANCELPAGE_MAIL_PORT": str(smtp.port),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "cancelpage", "worker", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert len(smtp.wait_for(1, timeout=30)) == 1
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, output
    assert "Worker started" in output
    assert "sent 1" in output
    assert "Worker stopped." in output
    assert [r.status for r in rows(app)] == ["sent"]
