"""Logging that never records link tokens or session capabilities.

Link tokens (``/c/``, ``/card/``, ``/unsubscribe/``, ``/save/``) and session capabilities
(``/s/<cap>/...``) are bearer secrets carried in URL paths. Access logs record paths (gunicorn logs
the raw request URI by default), htmx sends the page URL in ``HX-Current-URL``, and Flask logs the
path of a request that raised. Every one of those goes through ``redact``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask
from gunicorn.glogging import Logger as GunicornLogger

# A secret path segment: the one right after a token-bearing prefix, up to "/", "?", "#", space
# or quote. Matches anywhere in a string, so full URLs and request lines are covered too.
_SECRET_SEGMENT = re.compile(r"(/(?:c|s|card|unsubscribe|save)/)[^/?#\s\"']+")
_QUERY = re.compile(r"\?[^\s\"']*")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Replace token segments by ``[redacted]`` and drop query strings."""
    return _QUERY.sub("", _SECRET_SEGMENT.sub(r"\1" + REDACTED, text))


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
