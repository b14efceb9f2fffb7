"""Production refuses unsafe settings (docs/RELIABILITY.md 20); every case, one at a time."""

from __future__ import annotations

from typing import Any

import pytest

from cancelpage import create_app
from cancelpage.config import DEV_SECRET_KEY, UnsafeConfig, check_production
from cancelpage.extensions import db

SAFE = {
    "SECRET_KEY": "a-long-random-production-secret",
    "ENCRYPTION_KEYS": ["a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="],
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://app@db.internal/cancelpage",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
}


def test_safe_production_settings_start_and_harden_cookies() -> None:
    config: dict[str, Any] = dict(SAFE)
    check_production(config)
    assert config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": DEV_SECRET_KEY}, "CANCELPAGE_SECRET_KEY"),
        ({"SECRET_KEY": ""}, "CANCELPAGE_SECRET_KEY"),
        ({"SECRET_KEY": None}, "CANCELPAGE_SECRET_KEY"),
        ({"ENCRYPTION_KEYS": []}, "CANCELPAGE_ENCRYPTION_KEYS"),
        ({"SQLALCHEMY_DATABASE_URI": "sqlite:///instance/cancelpage.sqlite"}, "DATABASE_URL"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "CANCELPAGE_RATELIMIT_STORAGE_URI"),
    ],
    ids=["dev-secret", "empty-secret", "no-secret", "no-keys", "sqlite", "memory-limits"],
)
def test_each_unsafe_setting_is_refused(change: dict[str, Any], message: str) -> None:
    config = {**SAFE, **change}
    with pytest.raises(UnsafeConfig, match=message) as info:
        check_production(config)
    assert str(info.value).startswith("refusing to start in production: ")
    assert str(info.value).count(";") == 0  # exactly one problem named
    assert "SESSION_COOKIE_SECURE" not in config


def test_all_problems_are_named_at_once() -> None:
    config = {"SECRET_KEY": DEV_SECRET_KEY, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(UnsafeConfig) as info:
        check_production(config)
    assert str(info.value).count(";") == 3


@pytest.mark.parametrize(
    "allowance",
    [{"ALLOW_SQLITE_IN_PRODUCTION": True}, {"RATELIMIT_ENABLED": False}],
    ids=["sqlite-allowed", "limits-off"],
)
def test_explicit_allowances(allowance: dict[str, Any]) -> None:
    config = {
        **SAFE,
        "SQLALCHEMY_DATABASE_URI": "sqlite:///x.sqlite"
        if "ALLOW_SQLITE_IN_PRODUCTION" in allowance
        else SAFE["SQLALCHEMY_DATABASE_URI"],
        "RATELIMIT_STORAGE_URI": "memory://"
        if "RATELIMIT_ENABLED" in allowance
        else SAFE["RATELIMIT_STORAGE_URI"],
        **allowance,
    }
    check_production(config)


def test_environment_variables_reach_the_check(monkeypatch: Any, tmp_path: Any) -> None:
    """The same refusal when the settings come from CANCELPAGE_* and DATABASE_URL."""
    monkeypatch.setenv("CANCELPAGE_ENV", "production")
    monkeypatch.setenv("CANCELPAGE_SECRET_KEY", "a-long-random-production-secret")
    monkeypatch.setenv("CANCELPAGE_ENCRYPTION_KEYS", SAFE["ENCRYPTION_KEYS"][0])
    monkeypatch.setenv("CANCELPAGE_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite")
    with pytest.raises(UnsafeConfig, match="DATABASE_URL"):
        create_app()
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db.internal/cancelpage")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://app@db.internal/cancelpage"
    )
    assert app.config["ENCRYPTION_KEYS"] == SAFE["ENCRYPTION_KEYS"]
    with app.app_context():
        db.engine.dispose()
