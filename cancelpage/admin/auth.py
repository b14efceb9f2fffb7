"""Signing in and out, and resetting a forgotten password by emailed link."""

from __future__ import annotations

from flask import Response, current_app, request, session, url_for
from flask_login import current_user, login_user, logout_user

from cancelpage.admin.common import bp, page
from cancelpage.extensions import db, limiter
from cancelpage.merchants import accounts
from cancelpage.recovery import outbox
from cancelpage.web.rendering import see_other

RESET_SESSION_KEY = "admin_reset_token"


def login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def safe_next(target: str | None) -> str:
    """Only back into the dashboard: a relative /admin path, never another site."""
    if (
        target
        and target.startswith("/admin")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return url_for("admin.overview")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login() -> Response:
    """Sign in with email and password."""
    error = None
    if request.method == "POST":
        user = accounts.authenticate(
            request.form.get("email", ""), request.form.get("password", "")
        )
        if user is not None:
            db.session.commit()
            session.clear()  # a fresh session: nothing from before sign-in carries over
            login_user(accounts.Account(user))
            return see_other(safe_next(request.args.get("next")))
        error = "That email and password do not match an account."
    return page("admin/login.html", "content", merchant=None, error=error, form=request.form)


@bp.post("/logout")
def logout() -> Response:
    """Sign out (a POST, so no other site can sign a user out with a link): this session and
    every other one of the user, so a copied session cookie stops working too."""
    if current_user.is_authenticated:
        accounts.end_sessions(current_user.user)
        db.session.commit()
    logout_user()
    session.clear()
    return see_other(url_for("admin.login"))


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def forgot() -> Response:
    """Ask for a reset link; the answer is the same whether or not the address has an account."""
    sent = False
    if request.method == "POST":
        # Mailed by the worker only if the address has an account; the page says the same, in
        # the same time, either way.
        outbox.request_password_reset(request.form.get("email", ""))
        db.session.commit()
        sent = True
    mail = bool(current_app.config.get("MAIL_SERVER"))
    return page("admin/forgot.html", "content", merchant=None, sent=sent, mail=mail)


@bp.get("/reset/<token>")
def reset_link(token: str) -> Response:
    """Follow the emailed link: keep the token in the session, drop it from the URL."""
    session[RESET_SESSION_KEY] = token
    return see_other(url_for("admin.reset"))


@bp.route("/reset", methods=["GET", "POST"])
def reset() -> Response:
    """Choose a new password; the link stops working once the password changed."""
    user = accounts.user_for_reset(session.get(RESET_SESSION_KEY, ""))
    if user is None:
        return page("admin/reset.html", "content", status=404, merchant=None, user=None, error=None)
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = "The two passwords differ."
        else:
            try:
                accounts.set_password(user, password)
            except accounts.AccountError as exc:
                error = str(exc)
        if error is None:
            db.session.commit()
            session.clear()
            login_user(accounts.Account(user))
            return see_other(url_for("admin.overview"))
    return page("admin/reset.html", "content", merchant=None, user=user, error=error)
