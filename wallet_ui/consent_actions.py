"""What the citizen does to one of their consents (or a child's): the forms of its page.

Each answers POST only (``/wallet/consents/<consent_id>/revoke``, ``pause``, ``resume``,
``extend``, ``erasure``), runs one action of :mod:`consent.citizen_actions` in one write,
and shows the consent's page again (a withdrawal shows its confirmation). Signed out, the
citizen signs in and comes back to the consent's page.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from consent import citizen_actions
from consent.citizen_actions import NoSuchConsent
from consent.erasure_requests import ErasureNotPossible
from consent.extension import ExtensionRefused
from consent.models import Subject
from consent.types import utcnow
from wallet_ui.blueprint import bp
from wallet_ui.consents import not_in_wallet
from wallet_ui.errors import error_page
from wallet_ui.ports import wallet_parts
from wallet_ui.signed_in import signed_in

CONSENT_PAGE = "wallet.consent_detail"


def _consent_page(consent_id: str) -> Response:
    return redirect(url_for(CONSENT_PAGE, consent_id=consent_id))


@bp.post("/wallet/consents/<consent_id>/revoke")
@signed_in(back_to=CONSENT_PAGE)
def revoke(subject: Subject, consent_id: str) -> Response:
    parts = wallet_parts()
    try:
        with parts.db.writing() as session:
            withdrawn = citizen_actions.withdraw(
                session, parts.domain, citizen_id=subject.id, consent_id=consent_id, now=utcnow()
            )
    except NoSuchConsent:
        return not_in_wallet()
    if withdrawn:
        return redirect(url_for("wallet.withdrawn", consent_id=consent_id))
    return _consent_page(consent_id)


@bp.post("/wallet/consents/<consent_id>/pause")
@signed_in(back_to=CONSENT_PAGE)
def pause(subject: Subject, consent_id: str) -> Response:
    return _change(citizen_actions.pause, subject, consent_id)


@bp.post("/wallet/consents/<consent_id>/resume")
@signed_in(back_to=CONSENT_PAGE)
def resume(subject: Subject, consent_id: str) -> Response:
    return _change(citizen_actions.resume, subject, consent_id)


def _change(change: Callable[..., object], subject: Subject, consent_id: str) -> Response:
    """Pause or resume, then show the consent as it now stands."""
    try:
        with wallet_parts().db.writing() as session:
            change(session, citizen_id=subject.id, consent_id=consent_id, now=utcnow())
    except NoSuchConsent:
        return not_in_wallet()
    return _consent_page(consent_id)


@bp.post("/wallet/consents/<consent_id>/extend")
@signed_in(back_to=CONSENT_PAGE)
def extend(subject: Subject, consent_id: str) -> Response:
    """Extend a consent once more by its own duration, within its purpose's maximum."""
    parts = wallet_parts()
    try:
        with parts.db.writing() as session:
            extended = citizen_actions.extend(
                session,
                parts.domain,
                parts.oauth,
                citizen_id=subject.id,
                consent_id=consent_id,
                # The end the citizen saw on the page: a second submit must not extend twice.
                seen_end=request.form.get("expires_at"),
                now=utcnow(),
            )
    except NoSuchConsent:
        return not_in_wallet()
    except ExtensionRefused:
        return error_page(
            409,
            _(
                "This consent cannot be extended: it has ended, or its "
                "purpose allows no later end. Nothing was changed."
            ),
        )
    if extended is not None:
        flash(
            _(
                "Consent extended. It now ends on %(when)s. A signed receipt of the "
                "extension is below.",
                when=format_datetime(extended.expires_at, "medium"),
            )
        )
    return _consent_page(consent_id)


@bp.post("/wallet/consents/<consent_id>/erasure")
@signed_in(back_to=CONSENT_PAGE)
def ask_erasure(subject: Subject, consent_id: str) -> Response:
    """Ask the service to erase what it received under this consent (GDPR Art. 17)."""
    try:
        with wallet_parts().db.writing() as session:
            citizen_actions.ask_erasure(
                session, citizen_id=subject.id, consent_id=consent_id, now=utcnow()
            )
    except NoSuchConsent:
        return not_in_wallet()
    except ErasureNotPossible:
        return error_page(
            409,
            _("The service received nothing under this consent, so there is nothing to erase."),
        )
    flash(
        _(
            "Your request to erase the data has been sent. It shows as pending until the "
            "service confirms the erasure; its reference is at the end of this page."
        )
    )
    return _consent_page(consent_id)
