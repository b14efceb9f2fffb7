"""Response helpers shared by the blueprints: fragment-or-page rendering and htmx redirects."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, redirect, render_template
from htmx_flask import request
from jinja2_fragments.flask import render_block
from werkzeug.routing import IntegerConverter, Map


def wants_fragment() -> bool:
    """htmx swaps a fragment in place; boosted requests and history restores need the page."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(template: str, block: str, status: int = 200, **context: Any) -> Response:
    """The named block for htmx, the full page otherwise; always `Vary: HX-Request`."""
    if wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def see_other(url: str) -> Response:
    """After a successful plain POST: 303. htmx ignores 3xx, so tell it with HX-Redirect."""
    if wants_fragment():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
    else:
        response = redirect(url, 303)
    response.vary.add("HX-Request")
    return response


class DatabaseId(IntegerConverter):
    """``<int:...>`` in every route: at most the largest id an INTEGER column holds on both
    databases (PostgreSQL's is 32-bit; SQLite refuses a parameter over 64 bits outright)."""

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int | None = None) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=2**31 - 1)
