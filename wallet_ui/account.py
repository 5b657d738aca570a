"""The citizen's account: sign-in sessions, language, erasure; and the accessibility statement.

``GET /wallet/account`` lists the citizen's sessions still valid (when each began, when it
ends by itself, which one is this browser), links to the language switch, and offers
"sign out everywhere" (``POST /wallet/account/sign-out-everywhere``: every session of the
citizen ends, this one too, and the browser lands on the sign-in page with a message).

``GET /wallet/account/erase`` asks for confirmation: the citizen types their username.
``POST /wallet/account/erase`` erases them (:func:`consent.account_erasure.erase_subject`: every
active consent withdrawn with its receipt and ledger entry, the pseudonym key destroyed, the
ledger untouched and still verifiable), ends every session and shows what happened and what
happens next. A missing or wrong confirmation changes nothing and says why (status 400).

``GET /wallet/accessibility`` is the accessibility statement; it needs no sign-in.
"""

from __future__ import annotations

from datetime import date

from flask import Response, flash, make_response, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from werkzeug.wrappers import Response as Redirect

from consent.account_erasure import erase_subject
from consent.models import Subject
from consent.notifications import email_of
from consent.types import utcnow
from wallet_ui.auth import active_sessions, end_all_sessions, is_current
from wallet_ui.views import _broker, _db, _require_sign_in, _signed_in, bp

STATEMENT_DATE = date(2026, 11, 26)
ACCESSIBILITY_CONTACT = {"bg": "достъпност@sofia.example", "en": "accessibility@sofia.example"}


@bp.get("/wallet/account")
def account() -> Redirect | str:
    subject = _signed_in()
    if subject is None:
        return _require_sign_in()
    request._serdika_subject = subject  # type: ignore[attr-defined]
    return account_page(subject)


def account_page(subject: Subject, *, email_error: str | None = None,
                 typed: str | None = None) -> str:
    """The account page; with ``email_error``, the e-mail form shows what was typed, and why
    it was not taken."""
    rows = active_sessions(_db().session, subject, now=utcnow())
    sessions = sorted(({"row": row, "current": is_current(row)} for row in rows),
                      key=lambda item: not item["current"])  # this browser first
    email = typed if email_error else email_of(_broker().keys.keyring, subject)
    return render_template("wallet/account.html", subject=subject, sessions=sessions,
                           email=email or "", email_error=email_error)


@bp.post("/wallet/account/sign-out-everywhere")
def sign_out_everywhere() -> Redirect:
    subject = _signed_in()
    if subject is None:
        return _require_sign_in_for(url_for("wallet.account"))
    with _db().writing() as session:
        end_all_sessions(session, subject)
    flash(_("You have been signed out on every device, this one too."))
    return redirect(url_for("wallet.sign_in"))


@bp.route("/wallet/account/erase", methods=["GET", "POST"])
def erase_account() -> Redirect | str:
    subject = _signed_in()
    if subject is None:
        return _require_sign_in_for(url_for("wallet.erase_account"))
    request._serdika_subject = subject  # type: ignore[attr-defined]
    if request.method == "GET":
        return render_template("wallet/account_erase.html", error=None)
    typed = request.form.get("confirm_username", "").strip()
    if typed != subject.username:
        error = (_("Type your username to confirm. Nothing was changed.") if not typed else
                 _("That is not your username. Nothing was changed."))
        return make_response(render_template("wallet/account_erase.html", error=error), 400)
    broker = _broker()
    now = utcnow()
    with broker.db.writing() as session:
        subject = session.merge(subject)
        withdrawn = erase_subject(session, broker.domain, subject, now=now)
        end_all_sessions(session, subject)
    request._serdika_subject = None  # type: ignore[attr-defined]
    return render_template("wallet/account_erased.html", withdrawn=withdrawn, erased_at=now)


@bp.get("/wallet/accessibility")
def accessibility() -> Response | str:
    request._serdika_subject = _signed_in()  # type: ignore[attr-defined]
    return render_template("wallet/accessibility.html",
                           statement_date=format_date(STATEMENT_DATE, "long"),
                           contact=ACCESSIBILITY_CONTACT)


def _require_sign_in_for(page: str) -> Redirect:
    """Send a POST with no session to sign in, then back to the page that has the form."""
    return redirect(url_for("wallet.sign_in", next=page))
