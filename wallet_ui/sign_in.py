"""Signing in and out of the wallet (form fields ``username`` and ``password``)."""

from __future__ import annotations

from flask import make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from consent.types import utcnow
from wallet_ui.auth import SignIn, attempt_sign_in, end_session
from wallet_ui.blueprint import bp
from wallet_ui.devices import describe
from wallet_ui.pages import safe_next
from wallet_ui.ports import wallet_parts


@bp.route("/wallet/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | str:
    parts = wallet_parts()
    settings = parts.settings
    next_url = safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        if not username.isprintable():
            username = ""  # control characters are never in a username (PostgreSQL refuses NUL)
        with parts.db.writing() as session:
            outcome = attempt_sign_in(
                session,
                username,
                request.form.get("password", "")[:256],
                request.remote_addr or "unknown",
                now=utcnow(),
                window=settings.sign_in_window_seconds,
                per_account=settings.sign_in_max_failures_per_account,
                per_address=settings.sign_in_max_failures_per_address,
                device=describe(request.headers.get("User-Agent")),
            )
        if outcome == SignIn.SIGNED_IN:
            return redirect(next_url)
        if outcome == SignIn.BLOCKED:
            error = _("Too many failed attempts. Please wait 15 minutes and try again.")
            status = 429
        else:
            error = _("The username or password is not right. Please try again.")
            status = 401
    return make_response(
        render_template("wallet/sign_in.html", error=error, next_url=next_url), status
    )


@bp.post("/wallet/sign-out")
def sign_out() -> Response:
    with wallet_parts().db.writing() as session:
        end_session(session)
    return redirect(url_for("wallet.sign_in"))
