"""The citizen's consents: the dashboard, one consent's page, and a withdrawal's confirmation.

``GET /wallet/`` (and ``/wallet/consents``) lists the services that may read the citizen's
data, grouped by service, and the history of the rest; a parent's children have sections of
their own (:mod:`wallet_ui.children`). ``GET /wallet/consents/<consent_id>`` shows one
consent with its receipts, latest reads, and the forms that act on it
(:mod:`wallet_ui.consent_actions`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from consent.catalogue import LEGAL_BASES
from consent.citizen_consents import (
    ConsentRow,
    Withdrawal,
    consent_page,
    dashboard,
    days_left,
    effective_status,
    withdrawal_of,
)
from consent.models import Consent, Purpose, Service, Subject
from consent.types import utcnow
from wallet_ui.blueprint import bp
from wallet_ui.errors import error_page
from wallet_ui.locale import current_locale
from wallet_ui.ports import wallet_parts
from wallet_ui.reads import ReadNamer
from wallet_ui.signed_in import signed_in
from wallet_ui.wording import scope_view


def not_in_wallet() -> Response:
    return error_page(404, _("There is no consent with this reference in your wallet."))


@bp.get("/wallet/")
@bp.get("/wallet/consents")
@signed_in
def home(subject: Subject) -> Response | str:
    now = utcnow()
    found = dashboard(wallet_parts().db.session, subject.id, now)
    return render_template(
        "wallet/home.html",
        subject=subject,
        active=found.in_force,
        by_service=by_service(found.in_force),
        history=found.ended,
        status_of=lambda c: effective_status(c, now),
        days_left=lambda c: days_left(c, now),
        scope_of=scope_view,
    )


def by_service(
    rows: list[ConsentRow],
) -> list[tuple[Service, list[tuple[Consent, Purpose]]]]:
    """Consents grouped by service, services by name, each service's soonest end first."""
    groups: dict[int, tuple[Service, list[tuple[Consent, Purpose]]]] = {}
    for consent, service, purpose in rows:
        groups.setdefault(service.id, (service, []))[1].append((consent, purpose))
    locale = current_locale()
    ordered = sorted(
        groups.values(),
        key=lambda group: (group[0].name_bg if locale == "bg" else group[0].name_en).casefold(),
    )
    never = datetime.max.replace(tzinfo=UTC)  # active consents always end; be safe anyway
    for _service, consents in ordered:
        consents.sort(key=lambda pair: pair[0].expires_at or never)
    return ordered


@bp.get("/wallet/consents/<consent_id>")
@signed_in
def consent_detail(subject: Subject, consent_id: str) -> Response | str:
    page = consent_page(wallet_parts().db.session, subject.id, consent_id, utcnow())
    if page is None:
        return not_in_wallet()
    name = ReadNamer()
    return render_template(
        "wallet/consent.html",
        consent=page.consent,
        service=page.service,
        purpose=page.purpose,
        basis=LEGAL_BASES.get(page.purpose.legal_basis),
        scope=scope_view(page.consent.scope),
        status=page.status,
        receipts=page.receipts,
        just_revoked=request.args.get("revoked") == "1",
        reads=[name(record) for record in page.reads.records],
        more_reads=page.reads.older is not None,
        extended_until=page.extended_until,
        erasure_requests=page.erasure_requests,
        may_ask_erasure=page.may_ask_erasure,
    )


@bp.get("/wallet/consents/<consent_id>/withdrawn")
@signed_in
def withdrawn(subject: Subject, consent_id: str) -> Response | str:
    """The confirmation page of a withdrawal: a reference and what happens next."""
    found = withdrawal_of(wallet_parts().db.session, subject.id, consent_id, utcnow())
    if found is None:
        return not_in_wallet()
    if not isinstance(found, Withdrawal):
        return redirect(url_for("wallet.consent_detail", consent_id=consent_id))
    return render_template(
        "wallet/withdrawn.html",
        consent=found.consent,
        service=found.service,
        purpose=found.purpose,
        receipt=found.receipt,
    )
