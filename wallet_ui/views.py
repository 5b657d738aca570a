"""Wallet pages. Each view parses the request, calls one domain function, renders a page."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import isodate
from authlib.oauth2.rfc6749 import OAuth2Error
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, format_datetime, get_locale, ngettext
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from broker.sequencer import current_head
from consent.accounts import authenticate
from consent.catalogue import LEGAL_BASES
from consent.constraints import GrantedLimits
from consent.erasure_requests import ErasureNotPossible, request_erasure, requests_of
from consent.history import ReadFilter, history_page
from consent.lifecycle import (
    Actor,
    ExtensionRefused,
    InvalidTransition,
    extend_consent,
    extension_end,
    pause_consent,
    record_decision,
    resume_consent,
    revoke_consent,
)
from consent.models import Consent, ConsentStatus, Purpose, Receipt, Service, Subject
from consent.notifications import NotificationKind, notify
from consent.receipts import ReceiptNotCovered, bundle_for
from consent.requests import GrantedSubject
from consent.types import utcnow
from consent.wards import wards_in_force
from wallet_ui import LANG_COOKIE, LOCALES
from wallet_ui.auth import (
    current_subject,
    end_session,
    record_failure,
    sign_in_blocked,
    start_session,
)

log = logging.getLogger(__name__)

#: How many of its latest reads a consent's page shows; the access history has them all.
CONSENT_READS = 20

bp = Blueprint("wallet", __name__, template_folder="templates", static_folder="static",
               static_url_path="/wallet/static")


def _broker() -> Any:
    return current_app.extensions["serdika"]


def _db() -> Any:
    return _broker().db


def _locale() -> str:
    return str(get_locale() or "bg")


def _safe_next(target: str | None) -> str:
    """Only same-origin paths are followed after sign-in (no open redirect)."""
    if not target:
        return url_for("wallet.home")
    # Control characters: browsers drop tabs and newlines ("/\t/evil" becomes "//evil"), and
    # a newline in a Location header makes Werkzeug raise (a 500).
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return url_for("wallet.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("wallet.home")
    return target


def _signed_in() -> Subject | None:
    return current_subject(_db().session, now=utcnow())


def _require_sign_in() -> Response:
    return redirect(url_for("wallet.sign_in", next=request.full_path.rstrip("?")))


@bp.app_context_processor
def _page_helpers() -> dict[str, Any]:
    locale = _locale()
    other = "en" if locale == "bg" else "bg"
    return {
        "locale": locale,
        "other_locale": other,
        "other_locale_name": {"bg": "Български", "en": "English"}[other],
        "language_url": url_for("wallet.language", lang=other,
                                next=request.full_path.rstrip("?")),
        "label": lambda thing: thing.label(locale),
        "when": lambda value: format_datetime(value, "medium") if value else "",
        "limits": limits_in_words,
        "signed_in": getattr(request, "_serdika_subject", None),
    }


@bp.app_template_filter("status_label")
def status_label(status: str) -> str:
    return {
        ConsentStatus.REQUESTED: _("Waiting for your answer"),
        ConsentStatus.ACTIVE: _("Active"),
        ConsentStatus.PAUSED: _("Paused by you"),
        ConsentStatus.DENIED: _("Refused by you"),
        ConsentStatus.REVOKED: _("Withdrawn by you"),
        ConsentStatus.EXPIRED: _("Expired"),
    }.get(status, status)


@bp.app_template_filter("human_duration")
def human_duration(iso: str) -> str:
    """Say an ISO 8601 duration in words, such as "90 days" or "1 year"."""
    try:
        value = isodate.parse_duration(iso)
    except (isodate.ISO8601Error, ValueError):
        return iso
    if isinstance(value, isodate.Duration):
        months = int(value.years * 12 + value.months)
        if months and months % 12 == 0:
            return ngettext("%(num)d year", "%(num)d years", months // 12)
        if months:
            return ngettext("%(num)d month", "%(num)d months", months)
        value = value.tdelta
    days = value.days
    if days:
        return ngettext("%(num)d day", "%(num)d days", days)
    return ngettext("%(num)d hour", "%(num)d hours", max(1, value.seconds // 3600))


def limits_in_words(constraints: dict[str, Any] | None) -> list[str]:
    """Say a consent's constraints (consent.constraints) as sentences for the citizen."""
    limits = GrantedLimits.stored(constraints)
    lines = []
    if limits.date_from and limits.date_to:
        lines.append(_("Only data from %(start)s to %(end)s.",
                       start=format_date(limits.date_from, "long"),
                       end=format_date(limits.date_to, "long")))
    elif limits.date_from:
        lines.append(_("Only data from %(start)s onwards.",
                       start=format_date(limits.date_from, "long")))
    elif limits.date_to:
        lines.append(_("Only data up to %(end)s.", end=format_date(limits.date_to, "long")))
    if limits.granularity is not None:
        lines.append({
            "hourly": _("Values hour by hour at the finest."),
            "daily": _("Daily totals at the finest, never hour by hour."),
            "monthly": _("Monthly totals only, never daily or hourly values."),
        }[limits.granularity.value])
    if limits.frequency is not None:
        lines.append(ngettext("At most %(num)d read every %(period)s.",
                              "At most %(num)d reads every %(period)s.",
                              limits.frequency.max_reads,
                              period=human_duration(limits.frequency.per)))
    return lines


def error_page(status: int, message: str | None = None) -> Response:
    titles = {
        400: _("The request could not be understood"),
        403: _("You cannot do that"),
        404: _("Page not found"),
        405: _("That action is not available here"),
        409: _("That cannot be done now"),
        413: _("What you sent is too large"),
        429: _("Too many attempts"),
        503: _("Not ready yet"),
        500: _("Something went wrong on our side"),
    }
    title = titles.get(status, titles[400] if status < 500 else titles[500])
    html = render_template("wallet/error.html", title=title, message=message, status=status)
    return make_response(html, status)


@bp.app_errorhandler(CSRFError)
def csrf_error(error: CSRFError) -> Response:
    return error_page(400, _("This form has expired or was not sent from this page. "
                             "Please go back, reload the page and try again. Nothing was "
                             "changed."))


@bp.get("/wallet/language")
def language() -> Response:
    lang = request.args.get("lang", "")
    response = redirect(_safe_next(request.args.get("next")))
    if lang in LOCALES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    return response


@bp.route("/wallet/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | str:
    broker = _broker()
    settings = broker.settings
    next_url = _safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        if not username.isprintable():
            username = ""  # control characters are never in a username (PostgreSQL refuses NUL)
        password = request.form.get("password", "")[:256]
        address = request.remote_addr or "unknown"
        now = utcnow()
        limits = dict(now=now, window=settings.sign_in_window_seconds)
        with broker.db.writing() as session:
            if sign_in_blocked(session, username, address,
                               per_account=settings.sign_in_max_failures_per_account,
                               per_address=settings.sign_in_max_failures_per_address,
                               **limits):
                error = _("Too many failed attempts. Please wait 15 minutes and try again.")
                status = 429
            else:
                subject = authenticate(session, username, password) if username else None
                if subject is None:
                    record_failure(session, username, address, **limits)
                    error = _("The username or password is not right. Please try again.")
                    status = 401
                else:
                    start_session(session, subject, now=now)
        if error is None:
            return redirect(next_url)
    return make_response(render_template("wallet/sign_in.html", error=error,
                                         next_url=next_url), status)


@bp.post("/wallet/sign-out")
def sign_out() -> Response:
    with _db().writing() as session:
        end_session(session)
    return redirect(url_for("wallet.sign_in"))


def _consent_rows(subject: Subject) -> list[tuple[Consent, Service, Purpose]]:
    session = _db().session
    return list(
        session.execute(
            select(Consent, Service, Purpose)
            .join(Service, Service.id == Consent.service_id)
            .join(Purpose, Purpose.code == Consent.purpose_code)
            .where(Consent.subject_id == subject.id)
            .order_by(Consent.requested_at.desc())
        ).all()
    )


@bp.get("/wallet/")
@bp.get("/wallet/consents")
def home() -> Response | str:
    subject = _signed_in()
    if subject is None:
        return _require_sign_in()
    request._serdika_subject = subject  # type: ignore[attr-defined]
    now = utcnow()
    rows = _consent_rows(subject)
    # A paused consent is still granted: it stays among the services that may read.
    in_force = (ConsentStatus.ACTIVE, ConsentStatus.PAUSED)
    active = [r for r in rows if _effective_status(r[0], now) in in_force]
    history = [r for r in rows if _effective_status(r[0], now) not in in_force]
    return render_template("wallet/home.html", subject=subject, active=active,
                           by_service=_by_service(active), history=history,
                           status_of=lambda c: _effective_status(c, now),
                           days_left=lambda c: _days_left(c, now), scope_of=_scope_view)


def _by_service(
    rows: list[tuple[Consent, Service, Purpose]],
) -> list[tuple[Service, list[tuple[Consent, Purpose]]]]:
    """Consents grouped by service, services by name, each service's soonest end first."""
    groups: dict[int, tuple[Service, list[tuple[Consent, Purpose]]]] = {}
    for consent, service, purpose in rows:
        groups.setdefault(service.id, (service, []))[1].append((consent, purpose))
    locale = _locale()
    ordered = sorted(groups.values(),
                     key=lambda group: (group[0].name_bg if locale == "bg"
                                        else group[0].name_en).casefold())
    never = datetime.max.replace(tzinfo=UTC)  # active consents always end; be safe anyway
    for _service, consents in ordered:
        consents.sort(key=lambda pair: pair[0].expires_at or never)
    return ordered


def _effective_status(consent: Consent, now: datetime) -> str:
    if consent.status in (ConsentStatus.ACTIVE, ConsentStatus.PAUSED) and \
            consent.expires_at and consent.expires_at <= now:
        return ConsentStatus.EXPIRED
    return consent.status


def _days_left(consent: Consent, now: datetime) -> int:
    """Whole days left, rounded up: a consent of 90 days reads "90 days" the day it is given."""
    if consent.expires_at is None:
        return 0
    return max(0, math.ceil((consent.expires_at - now).total_seconds() / 86400))


def _is_reference(value: str) -> bool:
    """Consent and receipt ids are short URL-safe strings; anything else matches nothing."""
    return 0 < len(value) <= 40 and value.isascii() and value.isprintable()


def _own_consent(subject: Subject, consent_id: str) -> tuple[Consent, Service, Purpose] | None:
    """The consent, if it is the citizen's own or one of a child they answer for now."""
    if not _is_reference(consent_id):
        return None
    row = _db().session.execute(
        select(Consent, Service, Purpose)
        .join(Service, Service.id == Consent.service_id)
        .join(Purpose, Purpose.code == Consent.purpose_code)
        .where(Consent.id == consent_id,
               or_(Consent.subject_id == subject.id,
                   Consent.subject_id.in_(wards_in_force(subject.id, utcnow()))))
    ).one_or_none()
    return (row[0], row[1], row[2]) if row else None


def _actor(subject: Subject, consent: Consent) -> Actor:
    """How the ledger names who acted on ``consent``: its subject, or their parent."""
    return Actor.SUBJECT if consent.subject_id == subject.id else Actor.GUARDIAN


def _scope_view(scope: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name each granted field and source in the citizen's language."""
    catalogue = _broker().connectors.catalogue
    locale = _locale()
    view = []
    for item in scope:
        source = catalogue.get(item["connector"])
        resource = source.resources.get(item["resource"]) if source else None
        view.append({
            "source": source.label(locale) if source else item["connector"],
            "resource": resource.label(locale) if resource else item["resource"],
            "fields": [
                resource.fields[name].label(locale) if resource and name in resource.fields
                else name
                for name in item["fields"]
            ],
            "constraints": item.get("constraints"),
        })
    return view


@bp.get("/wallet/consents/<consent_id>")
def consent_detail(consent_id: str) -> Response | str:
    subject = _signed_in()
    if subject is None:
        return _require_sign_in()
    request._serdika_subject = subject  # type: ignore[attr-defined]
    found = _own_consent(subject, consent_id)
    if found is None:
        return error_page(404, _("There is no consent with this reference in your wallet."))
    consent, service, purpose = found
    session = _db().session
    receipts = session.scalars(
        select(Receipt).where(Receipt.consent_id == consent.id).order_by(Receipt.issued_at)
    ).all()
    from wallet_ui.history import _Namer  # that module imports this one

    # A child's consent has the child's reads, shown to the parent who answers for it.
    reads = history_page(session, consent.subject_id, ReadFilter(consent_id=consent.id),
                         limit=CONSENT_READS)
    now = utcnow()
    return render_template(
        "wallet/consent.html", consent=consent, service=service, purpose=purpose,
        basis=LEGAL_BASES.get(purpose.legal_basis), scope=_scope_view(consent.scope),
        status=_effective_status(consent, now), receipts=receipts,
        just_revoked=request.args.get("revoked") == "1",
        reads=[_Namer()(record) for record in reads.records],
        more_reads=reads.older is not None,
        extended_until=extension_end(consent, purpose, now),
        erasure_requests=requests_of(session, consent.id),
        may_ask_erasure=consent.decided_at is not None
        and consent.status != ConsentStatus.DENIED,
    )


ConsentAction = Callable[[Session, Subject, Consent], Response | None]


def _act_on(consent_id: str, action: ConsentAction) -> Response | str:
    """Run one action of the citizen on one of their consents (or a child's), in one write.

    Signed out, the citizen signs in and comes back to the consent page (these URLs answer
    only POST). The action returns its own page, or None to show the consent page again.
    """
    subject = _signed_in()
    if subject is None:
        return redirect(url_for("wallet.sign_in", next=url_for(
            "wallet.consent_detail", consent_id=consent_id)))
    with _db().writing() as session:
        found = _own_consent(subject, consent_id)
        if found is None:
            return error_page(404, _("There is no consent with this reference in your "
                                     "wallet."))
        response = action(session, subject, found[0])
    return response or redirect(url_for("wallet.consent_detail", consent_id=consent_id))


@bp.post("/wallet/consents/<consent_id>/revoke")
def revoke(consent_id: str) -> Response | str:
    def withdraw(session: Session, subject: Subject, consent: Consent) -> Response | None:
        # Revoked, expired or denied already (a double submit): nothing more to withdraw.
        with suppress(InvalidTransition):
            revoke_consent(session, _broker().domain, consent, now=utcnow(),
                           by=_actor(subject, consent))
        if consent.status == ConsentStatus.REVOKED:
            return redirect(url_for("wallet.withdrawn", consent_id=consent_id))
        return None

    return _act_on(consent_id, withdraw)


def _change(consent_id: str, change: Callable[..., int]) -> Response | str:
    """Pause or resume one of the citizen's consents, then show its page again.

    A change the consent's state no longer allows (a double submit, a consent that ended
    meanwhile) changes nothing; the page then shows the state as it is.
    """
    def apply(session: Session, subject: Subject, consent: Consent) -> None:
        with suppress(InvalidTransition):
            change(session, consent, now=utcnow(), by=_actor(subject, consent))

    return _act_on(consent_id, apply)


@bp.post("/wallet/consents/<consent_id>/pause")
def pause(consent_id: str) -> Response | str:
    return _change(consent_id, pause_consent)


@bp.post("/wallet/consents/<consent_id>/resume")
def resume(consent_id: str) -> Response | str:
    return _change(consent_id, resume_consent)


@bp.post("/wallet/consents/<consent_id>/extend")
def extend(consent_id: str) -> Response | str:
    """Extend a consent once more by its own duration, within its purpose's maximum."""
    def lengthen(session: Session, subject: Subject, consent: Consent) -> Response | None:
        # The end the citizen saw on the page: a second submit must not extend twice.
        if request.form.get("expires_at") != _stamp(consent.expires_at):
            return None
        try:
            extend_consent(session, _broker().domain, consent, now=utcnow(),
                           by=_actor(subject, consent))
        except ExtensionRefused:
            return error_page(409, _("This consent cannot be extended: it has ended, or its "
                                     "purpose allows no later end. Nothing was changed."))
        _oauth().consent_extended(session, consent)
        flash(_("Consent extended. It now ends on %(when)s. A signed receipt of the "
                "extension is below.", when=format_datetime(consent.expires_at, "medium")))
        return None

    return _act_on(consent_id, lengthen)


def _stamp(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


@bp.post("/wallet/consents/<consent_id>/erasure")
def ask_erasure(consent_id: str) -> Response | str:
    """Ask the service to erase what it received under this consent (GDPR Art. 17)."""
    def ask(session: Session, subject: Subject, consent: Consent) -> Response | None:
        try:
            erasure = request_erasure(session, consent, now=utcnow(),
                                      by=_actor(subject, consent))
        except ErasureNotPossible:
            return error_page(409, _("The service received nothing under this consent, so "
                                     "there is nothing to erase."))
        flash(_("Your request to erase the data has been sent. Reference: %(reference)s. It "
                "shows as pending until the service confirms the erasure.",
                reference=erasure.id))
        return None

    return _act_on(consent_id, ask)


@bp.get("/wallet/consents/<consent_id>/withdrawn")
def withdrawn(consent_id: str) -> Response | str:
    """The confirmation page of a withdrawal: a reference and what happens next."""
    subject = _signed_in()
    if subject is None:
        return _require_sign_in()
    request._serdika_subject = subject  # type: ignore[attr-defined]
    found = _own_consent(subject, consent_id)
    if found is None:
        return error_page(404, _("There is no consent with this reference in your wallet."))
    consent, service, _purpose = found
    if consent.status != ConsentStatus.REVOKED:
        return redirect(url_for("wallet.consent_detail", consent_id=consent_id))
    receipt = _db().session.scalar(
        select(Receipt).where(Receipt.consent_id == consent.id, Receipt.kind == "revocation"))
    return render_template("wallet/withdrawn.html", consent=consent, service=service,
                           receipt=receipt)


@bp.get("/wallet/consents/<consent_id>/receipts/<receipt_id>")
def receipt(consent_id: str, receipt_id: str) -> Response:
    """Download the receipt bundle: the JWS, its ledger entry, an inclusion proof, a signed
    head and the public key, for ``serdika receipt verify`` offline."""
    subject = _signed_in()
    if subject is None:
        return _require_sign_in()
    found = _own_consent(subject, consent_id)
    row = _db().session.get(Receipt, receipt_id) if found and _is_reference(receipt_id) else None
    if row is None or row.consent_id != consent_id:
        return error_page(404, _("There is no such receipt in your wallet."))
    broker = _broker()
    bundle = None
    for attempt in range(8):  # another node may hold the sequencer lock for a moment
        head = current_head(broker)
        if head is not None:
            # A fresh session: it must see the nodes of the head just committed.
            with broker.db.sessions() as session:
                try:
                    bundle = bundle_for(session, jws=row.jws, ledger_index=row.ledger_index,
                                        head=head, jwk=broker.keys.public_jwk())
                    break
                except ReceiptNotCovered:
                    pass
        time.sleep(0.05 * (attempt + 1))
    if bundle is None:
        unavailable = error_page(503, _("Your receipt is being recorded in the public log. "
                                         "Please try again in a minute."))
        unavailable.headers["Retry-After"] = "2"
        return unavailable
    response = Response(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n",
                        mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="serdika-receipt-{row.kind}-{row.id}.json"')
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the authorization endpoint: the consent page -------------------------------------------

def _oauth() -> Any:
    return current_app.extensions["serdika.wallet.oauth"]


def _authorization_error(error: OAuth2Error) -> Response:
    """Redirect the error to a validated redirect URI, or show a page when there is none."""
    if error.redirect_uri:
        return _oauth().redirect_error(error)
    return make_response(
        render_template("wallet/authorize_error.html", error=error.error,
                        description=error.description), 400)


@bp.route("/oauth2/authorize", methods=["GET", "POST"])
def authorize() -> Response | str:
    from wallet_ui.children import chosen_subject, request_choice  # it imports this module

    oauth = _oauth()
    session = _db().session
    try:
        grant = oauth.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _authorization_error(error)
    subject = _signed_in()
    if subject is None:
        return _require_sign_in()
    request._serdika_subject = subject  # type: ignore[attr-defined]
    service = grant.client.service
    access_request = grant.request.access_request
    purpose = session.get(Purpose, access_request.purpose)
    catalogue = _broker().connectors.catalogue

    if request.method == "GET":
        items = []
        for item in access_request.items:
            source = catalogue[item.connector]
            resource = source.resources[item.resource]
            items.append({"item": item, "source": source, "resource": resource,
                          "fields": [resource.fields[name] for name in item.fields]})
        response = make_response(render_template(
            "wallet/authorize.html", service=service, purpose=purpose,
            basis=LEGAL_BASES.get(purpose.legal_basis), items=items,
            duration=access_request.duration,
            action=request.full_path.rstrip("?"),
            choice=request_choice(subject, utcnow()),
        ))
        response.headers["X-Serdika-Form-Action"] = _origin(grant.redirect_uri)
        _notice_request(subject, service.client_id)
        return response

    decision = request.form.get("decision")
    if decision not in ("allow", "deny"):
        return error_page(400, _("Please choose to allow or to deny the request."))
    allow = decision == "allow"
    if allow:
        ticked = set(request.form.getlist("fields"))
        kept: dict[tuple[str, str], set[str]] = {}
        for item in access_request.items:
            fields = catalogue[item.connector].resources[item.resource].fields
            kept[(item.connector, item.resource)] = {
                name for name in item.fields
                if not fields[name].optional or f"{item.connector}.{item.resource}.{name}"
                in ticked
            }
        access_request = access_request.narrowed(kept)
        if not access_request.items:
            allow = False
    broker = _broker()
    with broker.db.writing() as writer:
        subject = writer.merge(subject)
        # The citizen themself, or a minor child they answer for (wallet_ui.children).
        about = chosen_subject(writer, subject, request.form.get("subject"), utcnow())
        if about is None:
            return error_page(403, _("You cannot answer for this person: they are not a "
                                     "child in your care, or they have come of age. Nothing "
                                     "was recorded."))
        consent = record_decision(writer, broker.domain, subject=about, service=service,
                                  request=access_request, allow=allow, now=utcnow(),
                                  decided_by=subject)
        writer.commit()
        response = oauth.create_authorization_response(
            grant=grant, grant_user=GrantedSubject(about.id, consent) if allow else None)
    return response


def _notice_request(subject: Subject, client_id: str) -> None:
    """A request shown to the citizen is noticed once (a reload is the same request), so one
    made in their name elsewhere, on a shared computer, shows up in their wallet and mail."""
    asked = "\0".join((client_id, request.args.get("state", ""),
                       request.args.get("code_challenge", "")))
    key = "request:" + hashlib.sha256(asked.encode()).hexdigest()[:40]
    try:
        with _db().writing() as session:
            notify(session, subject_id=subject.id, kind=NotificationKind.REQUEST,
                   dedupe_key=key, details={"service": client_id}, now=utcnow(),
                   include_guardians=False)
    except SQLAlchemyError:
        # The request page matters more than its notice: show it, and say so in the log.
        log.exception("the notice of a request could not be recorded")


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"
