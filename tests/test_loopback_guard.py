"""The suite never reaches beyond this machine (docs: RELIABILITY.md 33)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests
from support import loopback_guard

HERE = Path(__file__).resolve().parent


def test_a_connection_beyond_loopback_is_refused_naming_the_address() -> None:
    with pytest.raises(loopback_guard.NonLoopbackConnection, match=r"not 192\.0\.2\.1:443"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with pytest.raises(loopback_guard.NonLoopbackConnection, match=r"not api\.stripe\.com:443"):
        requests.get("https://api.stripe.com/v1/customers", timeout=1)
    assert loopback_guard.attempts == ["192.0.2.1:443", "api.stripe.com:443"]
    loopback_guard.attempts.clear()  # refused on purpose: this test must not fail for it


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
    assert socket.getaddrinfo("localhost", 80)


def test_a_test_that_swallows_the_refusal_still_fails(tmp_path: Path) -> None:
    (tmp_path / "test_reaches_out.py").write_text(
        textwrap.dedent(
            """
            import socket

            def test_reaches_out():
                try:
                    socket.create_connection(("203.0.113.7", 80), timeout=1)
                except Exception:
                    pass  # code under test that hides its errors
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "support.loopback_guard",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "-q",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(HERE)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed: tried to connect beyond this machine: 203.0.113.7:80" in result.stdout
