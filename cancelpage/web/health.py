"""Operational endpoints for load balancers and benchmarks."""

from __future__ import annotations

from flask import Blueprint, Response

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process serves requests (touches nothing else)."""
    return Response("ok\n", mimetype="text/plain")
