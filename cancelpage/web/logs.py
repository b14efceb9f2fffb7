"""Logging that never records link tokens, session capabilities or password-reset tokens.

They are bearer secrets carried in URL paths: every route of the URL map with a ``<token>`` or
``<cap>`` argument (``/c/``, ``/s/``, ``/card/``, ``/unsubscribe/``, ``/admin/reset/``, and any
route added later). Access logs record paths (gunicorn logs the raw, still percent-encoded request
URI), htmx sends the page URL in ``HX-Current-URL``, and Flask logs the path of a request that
raised. Every one of those goes through ``redact``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask
from gunicorn.glogging import Logger as GunicornLogger
from werkzeug.routing import Map

# Route arguments that carry a bearer secret.
SECRET_ARGUMENTS = frozenset({"token", "cap"})
# One path segment, up to "/", "?", "#", space or quote.
_SEGMENT = r"[^/?#\s\"']+"
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_QUERY = re.compile(r"\?[^\s\"']*")
REDACTED = "[redacted]"
# Filled from the URL map by init_app (in gunicorn's master when preloaded, else in each worker).
_secret_paths: list[re.Pattern[str]] = []


def redact(text: str) -> str:
    """Replace secret path segments by ``[redacted]`` and drop query strings."""
    for pattern in _secret_paths:
        text = pattern.sub(r"\g<before>" + REDACTED, text)
    return _QUERY.sub("", text)


def secret_path_patterns(url_map: Map) -> list[re.Pattern[str]]:
    """For each route with a secret argument, a pattern for its path up to that argument.

    Literal characters also match their percent-encoded spelling (``/%63/`` routes to ``/c/``),
    and the pattern matches anywhere, so full URLs and request lines are covered too.
    """
    sources = set()
    for rule in url_map.iter_rules():
        if not SECRET_ARGUMENTS & rule.arguments:
            continue
        before, position = [], 0
        for argument in _ARGUMENT.finditer(rule.rule):
            before.append(_encodable(rule.rule[position : argument.start()]))
            if argument.group(1) in SECRET_ARGUMENTS:
                break
            before.append(_SEGMENT)
            position = argument.end()
        sources.add(f"(?P<before>{''.join(before)}){_SEGMENT}")
    # Longest first, so /admin/reset/ is redacted as a whole before anything shorter looks at it.
    return [re.compile(source, re.IGNORECASE) for source in sorted(sources, key=len, reverse=True)]


def _encodable(literal: str) -> str:
    return "".join(f"(?:{re.escape(ch)}|%{ord(ch):02x})" for ch in literal)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its arguments) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def init_app(app: Flask) -> None:
    """Redact the app's own log and the development server's request log."""
    _secret_paths[:] = secret_path_patterns(app.url_map)
    for name in (app.logger.name, "werkzeug"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger with every access-log atom and every error-log message redacted.

    Selected in gunicorn.conf.py with ``logger_class``.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, RedactingFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["q"] = ""
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
