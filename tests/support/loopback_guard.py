"""The suite talks to nothing but this machine: every socket connect and name lookup beyond
127.0.0.1 / ::1 is refused with the address, and the test that tried fails even when the code
under test caught the refusal (docs: RELIABILITY.md 33). Installed on import, by conftest."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest


class NonLoopbackConnection(RuntimeError):
    """A test tried to reach beyond 127.0.0.1 / ::1."""


attempts: list[str] = []  # refused since the current test began
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _refuse(target: str) -> NonLoopbackConnection:
    attempts.append(target)
    return NonLoopbackConnection(f"tests may only connect to 127.0.0.1 or ::1, not {target}")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0])
        if not _is_loopback(host):
            raise _refuse(f"{host}:{address[1]}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, port: Any = None, *args: Any, **kwargs: Any) -> Any:
    # Names are refused before DNS, so the failure names the host rather than a lookup error.
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and not _is_loopback(name):
        raise _refuse(f"{name}:{port}" if port else str(name))
    return _real_getaddrinfo(host, port, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def only_loopback() -> Iterator[None]:
    """Fail the test that tried, even when the code under test caught the refusal."""
    del attempts[:]
    yield
    if attempts:
        pytest.fail(f"tried to connect beyond this machine: {', '.join(attempts)}")
