"""Every `flask --app cancelpage ...` command, one module per group; registered in create_app."""

from __future__ import annotations

from flask import Flask

from cancelpage.cli import (
    analytics,
    audit,
    cards,
    demo,
    email,
    keys,
    links,
    merchant,
    portal,
    scan,
    translations,
    users,
    worker,
)


def init_app(app: Flask) -> None:
    """Add every command and group to ``app.cli``."""
    for command in (
        demo.init_db_command,
        demo.demo_command,
        links.link_command,
        merchant.merchant_group,
        portal.portal_group,
        users.user_group,
        keys.keys_group,
        worker.worker_command,
        email.email_group,
        cards.cards_group,
        cards.cases_command,
        analytics.analytics_group,
        audit.audit_group,
        scan.scan_command,
        translations.translations_group,
    ):
        app.cli.add_command(command)
