"""The app under real gunicorn (gunicorn.conf.py) on 127.0.0.1: redacted access log, limits
shared by two workers through Redis, and a loud refusal of unsafe production settings."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask

from cancelpage.web import logs

ROOT = Path(__file__).resolve().parents[2]
# Its own Redis database: test_ratelimit (db 14) may run at the same time in another worker.
REDIS_URL = "redis://127.0.0.1:6379/13"
KEYS = "LIMITS:LIMITER/cancelpage/*"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gunicorn(port: int, env: dict[str, str], *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "wsgi:app",
        "-c",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        *extra,
    ]


def base_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANCELPAGE_", "DATABASE_"))}
    env.update(settings)
    return env


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server at 127.0.0.1:6379")
    for key in client.scan_iter(KEYS):
        client.delete(key)
    yield client
    for key in client.scan_iter(KEYS):
        client.delete(key)
    client.close()


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # a loaded machine boots gunicorn slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not come up")


@contextlib.contextmanager
def serving(port: int, env: dict[str, str], tmp_path: Path, workers: int) -> Iterator[Path]:
    """gunicorn (gunicorn.conf.py) on 127.0.0.1:port until the block ends; yields its access log
    (its other output goes to gunicorn.out beside it)."""
    access_log, output = tmp_path / "access.log", tmp_path / "gunicorn.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            gunicorn(port, env, "--workers", str(workers), "--access-logfile", str(access_log)),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}", process)
            yield access_log
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0


def test_access_log_never_records_tokens_and_workers_share_limits(
    app: Flask, merchant: Any, make_link: Any, tmp_path: Path, redis_db: redis.Redis
) -> None:
    link = make_link(return_url="https://shop.example/account?session=abc")
    token = link.removeprefix("/c/")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = base_env(
        CANCELPAGE_SECRET_KEY=app.config["SECRET_KEY"],
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        CANCELPAGE_RATELIMIT_STORAGE_URI=REDIS_URL,
        CANCELPAGE_RATE_LIMIT_PER_LINK="6 per minute",
    )
    with serving(port, env, tmp_path, workers=2) as access_log:
        opened = requests.get(f"{base}{link}?utm_source=mail", allow_redirects=False)
        assert opened.status_code == 303
        step = opened.headers["Location"]
        cap = step.removeprefix("/s/")
        page_url = f"{base}{step}"
        htmx = {"HX-Request": "true", "HX-Current-URL": page_url, "Referer": page_url}
        assert requests.get(page_url, headers={"Referer": f"{base}{link}"}).ok
        survey = requests.post(f"{page_url}/survey", data={"action": "skip"}, headers=htmx)
        assert "Cancel your subscription?" in survey.text
        # 3 requests so far on this link; the limit of 6 holds across both workers
        statuses = [requests.get(page_url).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
    log = access_log.read_text()
    everything = log + (tmp_path / "gunicorn.out").read_text()
    assert token not in everything
    assert cap not in everything
    assert "utm_source" not in everything
    assert "session=abc" not in everything
    assert '"GET /c/[redacted] HTTP/1.1" 303' in log
    assert '"POST /s/[redacted]/survey HTTP/1.1" 200' in log
    assert log.count('"GET /s/[redacted] HTTP/1.1" 429') == 2
    assert '"GET /healthz HTTP/1.1" 200' in log


def secret_routes(app: Flask) -> list[str]:
    """Every route with a secret in its path, from the URL map, with its arguments filled in."""
    paths = []
    for number, rule in enumerate(app.url_map.iter_rules()):
        if logs.SECRET_ARGUMENTS & rule.arguments:
            values = {
                name: f"SECRET{number}{name}x7Q" if name in logs.SECRET_ARGUMENTS else "survey"
                for name in rule.arguments
            }
            paths.append(app.url_map.bind("cancel.test").build(rule.endpoint, values))
    return paths


def percent_encoded(path: str) -> str:
    """The same path with every letter of its fixed parts percent-encoded (/c/ -> /%63/)."""
    fixed, _, rest = path.partition("SECRET")
    return "".join(f"%{ord(ch):02X}" if ch.isalpha() else ch for ch in fixed) + "SECRET" + rest


def test_no_route_with_a_secret_in_its_path_reaches_the_access_log(
    app: Flask, merchant: Any, tmp_path: Path
) -> None:
    paths = secret_routes(app)
    assert {p.split("SECRET")[0] for p in paths} >= {
        "/c/",
        "/s/",
        "/card/",
        "/unsubscribe/",
        "/admin/reset/",
    }
    port = free_port()
    env = base_env(
        CANCELPAGE_SECRET_KEY=app.config["SECRET_KEY"],
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
    )
    with serving(port, env, tmp_path, workers=1) as access_log:
        # http.client sends the path as written (requests would normalise %63 back to c).
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path in paths:
            for variant in (path, percent_encoded(path)):
                for method in ("GET", "POST"):
                    connection.request(method, variant, body=b"" if method == "POST" else None)
                    connection.getresponse().read()
        connection.close()
    log = access_log.read_text()
    assert "SECRET" not in log + (tmp_path / "gunicorn.out").read_text()
    assert log.count("[redacted]") >= 4 * len(paths)
    assert '"GET /%63/[redacted] HTTP/1.1"' in log
    assert '"GET /admin/reset/[redacted] HTTP/1.1"' in log


@pytest.mark.parametrize(
    ("settings", "reasons"),
    [
        (
            {},
            [
                "CANCELPAGE_SECRET_KEY",
                "CANCELPAGE_ENCRYPTION_KEYS",
                "DATABASE_URL",
                "CANCELPAGE_RATELIMIT_STORAGE_URI",
            ],
        ),
        (
            {
                "CANCELPAGE_SECRET_KEY": "a-long-random-production-secret",
                "CANCELPAGE_ENCRYPTION_KEYS": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
                "CANCELPAGE_RATELIMIT_STORAGE_URI": REDIS_URL,
            },
            ["DATABASE_URL"],
        ),
    ],
    ids=["nothing-set", "sqlite"],
)
def test_gunicorn_refuses_unsafe_production_settings_loudly(
    tmp_path: Path, settings: dict[str, str], reasons: list[str]
) -> None:
    env = base_env(
        CANCELPAGE_ENV="production",
        DATABASE_URL=f"sqlite:///{tmp_path}/prod.sqlite",
        **settings,
    )
    result = subprocess.run(
        gunicorn(free_port(), env, "--workers", "1"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Error: refusing to start in production: " in result.stderr
    for reason in reasons:
        assert reason in result.stderr


def test_gunicorn_boots_the_factory_spec_from_another_folder(
    app: Flask, merchant: Any, tmp_path: Path
) -> None:
    """post_fork uses the app gunicorn was handed, not an import of wsgi.py."""
    port = free_port()
    env = base_env(
        CANCELPAGE_SECRET_KEY=app.config["SECRET_KEY"],
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "cancelpage:create_app()",
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
    with (tmp_path / "gunicorn.out").open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=out)
        try:
            wait_until_up(f"http://127.0.0.1:{port}", process)
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    output = (tmp_path / "gunicorn.out").read_text()
    assert "Traceback" not in output, output
    assert "Worker failed to boot" not in output, output
