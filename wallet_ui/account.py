"""The citizen's account: sign-in sessions, language, e-mail, erasure; and the accessibility
statement.

``GET /wallet/account`` lists the citizen's sessions still valid (the browser and system of
each, when it began, when it was last active, when it ends by itself, which one is this
browser), links to the language switch, and offers
"sign out everywhere" (``POST /wallet/account/sign-out-everywhere``: every session of the
citizen ends, this one too, and the browser lands on the sign-in page with a message).
``POST /wallet/account/email`` sets (or, empty, removes) the address notices are e-mailed to.

``GET /wallet/account/erase`` asks for confirmation: the citizen types their username.
``POST /wallet/account/erase`` erases them (:func:`consent.account_erasure.erase_subject`:
every active consent withdrawn with its receipt and ledger entry, the pseudonym key
destroyed, the ledger untouched and still verifiable), ends every session and shows what
happened and what happens next. A missing or wrong confirmation changes nothing and says why
(status 400).

``GET /wallet/accessibility`` is the accessibility statement; it needs no sign-in.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Response, flash, make_response, redirect, render_template, request, url_for
from flask_babel import format_date, format_timedelta
from flask_babel import gettext as _
from werkzeug.wrappers import Response as Redirect

from consent.account_erasure import erase_subject
from consent.models import Subject
from consent.notifications import email_of, set_email
from consent.types import utcnow
from wallet_ui.auth import ACTIVITY_STEP, active_sessions, end_all_sessions, is_current
from wallet_ui.blueprint import bp
from wallet_ui.models import WalletSession
from wallet_ui.ports import wallet_parts
from wallet_ui.signed_in import current_citizen, show_as_signed_in, signed_in

STATEMENT_DATE = date(2026, 11, 26)


@bp.get("/wallet/account")
@signed_in
def account(subject: Subject) -> Redirect | str:
    return account_page(subject)


def account_page(
    subject: Subject, *, email_error: str | None = None, typed: str | None = None
) -> str:
    """The account page; with ``email_error``, the e-mail form shows what was typed, and why
    it was not taken."""
    parts = wallet_parts()
    now = utcnow()
    rows = active_sessions(parts.db.session, subject, now=now)
    sessions = sorted(
        (
            {
                "row": row,
                "current": is_current(row),
                "device": device_in_words(row),
                "last_active": last_active_in_words(row, now, current=is_current(row)),
            }
            for row in rows
        ),
        key=lambda item: not item["current"],  # this browser first
    )
    email = typed if email_error else email_of(parts.keys.keyring, subject)
    return render_template(
        "wallet/account.html",
        subject=subject,
        sessions=sessions,
        email=email or "",
        email_error=email_error,
    )


def device_in_words(row: WalletSession) -> str:
    """The session's browser and system, as told at sign-in (wallet_ui.devices)."""
    if row.browser and row.system:
        return _("%(browser)s on %(system)s", browser=row.browser, system=row.system)
    if row.system:
        return _("A browser on %(system)s", system=row.system)
    return row.browser or _("Unknown browser")


def last_active_in_words(row: WalletSession, now: datetime, *, current: bool) -> str:
    """When the session was last used: now, or how long ago (it moves every few minutes)."""
    seen = row.last_seen_at or row.created_at
    if current or now - seen < ACTIVITY_STEP:
        return _("Active now")
    return format_timedelta(seen - now, add_direction=True)


@bp.post("/wallet/account/sign-out-everywhere")
@signed_in(back_to="wallet.account")
def sign_out_everywhere(subject: Subject) -> Redirect:
    with wallet_parts().db.writing() as session:
        end_all_sessions(session, subject)
    flash(_("You have been signed out on every device, this one too."))
    return redirect(url_for("wallet.sign_in"))


@bp.post("/wallet/account/email")
@signed_in(back_to="wallet.account")
def account_email(subject: Subject) -> Redirect | Any:
    typed = request.form.get("email", "").strip()[:320]
    address = None
    if typed:
        try:
            address = validate_email(typed, check_deliverability=False).normalized
        except EmailNotValidError:
            error = _("Enter an e-mail address such as name@example.bg. Nothing was changed.")
            return make_response(account_page(subject, email_error=error, typed=typed), 400)
    parts = wallet_parts()
    with parts.db.writing() as session:
        row = session.get(Subject, subject.id)
        assert row is not None
        set_email(parts.keys.keyring, row, address)
    flash(
        _("Notifications will be e-mailed to %(address)s.", address=address)
        if address
        else _("Notifications will no longer be e-mailed; you will find them in the wallet.")
    )
    return redirect(url_for("wallet.account"))


@bp.route("/wallet/account/erase", methods=["GET", "POST"])
@signed_in(back_to="wallet.erase_account")
def erase_account(subject: Subject) -> Redirect | str:
    if request.method == "GET":
        return render_template("wallet/account_erase.html", error=None)
    typed = request.form.get("confirm_username", "").strip()
    if typed != subject.username:
        error = (
            _("Type your username to confirm. Nothing was changed.")
            if not typed
            else _("That is not your username. Nothing was changed.")
        )
        return make_response(render_template("wallet/account_erase.html", error=error), 400)
    parts = wallet_parts()
    now = utcnow()
    with parts.db.writing() as session:
        subject = session.merge(subject)
        withdrawn = erase_subject(session, parts.domain, subject, now=now)
        end_all_sessions(session, subject)
    show_as_signed_in(None)
    return render_template("wallet/account_erased.html", withdrawn=withdrawn, erased_at=now)


@bp.get("/wallet/accessibility")
def accessibility() -> Response | str:
    show_as_signed_in(current_citizen())
    return render_template(
        "wallet/accessibility.html",
        statement_date=format_date(STATEMENT_DATE, "long"),
        contact=wallet_parts().settings.accessibility_email,
    )
