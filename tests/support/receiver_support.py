"""A merchant's webhook receiver: a real HTTP server on 127.0.0.1 that verifies every request
with the standardwebhooks library and can answer 500s, stall, or be down."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: Any  # what the library's verifier returned; None when verification failed
    verified: bool


@dataclass
class Receiver:
    """Answers each request with the next status in ``answers`` (then 200), after ``delays``."""

    secret: str
    port: int = field(default_factory=free_port)
    answers: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/cancelpage"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                delay = receiver.delays.pop(0) if receiver.delays else 0.0
                time.sleep(delay)
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    payload, verified = None, False
                receiver.received.append(Received(headers, body, payload, verified))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
