"""The authorization endpoint's page: the citizen answers a service's request for their data.

``GET /oauth2/authorize`` validates the request (the authorization server), signs the
citizen in first when needed, and shows one page: who asks, for what purpose and legal
basis, which fields from which source, for how long; optional fields can be unticked, and a
parent chooses whose data it is about (nobody is chosen for them: an "allow" without a choice
shows the page again, saying so, with the ticks kept). The form posts ``decision=allow`` or
``decision=deny`` (with the ticked ``fields`` and the ``subject``);
:func:`consent.answers.answer_request` records the answer and the server sends the browser
back to the service.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import make_response, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from connectors.base import ConnectorDescription
from consent.amendment import TargetNotStanding, proposed_change
from consent.answers import Answer, NotInCare, answer_request
from consent.catalogue import LEGAL_BASES
from consent.models import Purpose, Subject
from consent.notifications import notice_request
from consent.requests import GrantedSubject
from consent.types import utcnow
from wallet_ui.blueprint import bp
from wallet_ui.children import RequestChoice, request_choice, ward_chosen
from wallet_ui.errors import error_page
from wallet_ui.locale import current_locale
from wallet_ui.ports import ConsentGrant, wallet_parts
from wallet_ui.signed_in import signed_in

log = logging.getLogger(__name__)


@bp.route("/oauth2/authorize", methods=["GET", "POST"])
def authorize() -> Response | str:
    try:
        grant = wallet_parts().oauth.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _authorization_error(error)
    if request.method == "GET":
        return _consent_page(grant)
    return _answer(grant)


def _authorization_error(error: OAuth2Error) -> Response:
    """Redirect the error to a validated redirect URI, or show a page when there is none."""
    if error.redirect_uri:
        return wallet_parts().oauth.redirect_error(error)
    return make_response(
        render_template(
            "wallet/authorize_error.html", error=error.error, description=error.description
        ),
        400,
    )


@signed_in
def _consent_page(subject: Subject, grant: ConsentGrant) -> Response:
    return _request_page(subject, grant, request_choice(subject, utcnow()))


def _request_page(
    subject: Subject,
    grant: ConsentGrant,
    choice: RequestChoice,
    *,
    ticked: list[str] | None = None,
    whose_missing: bool = False,
) -> Response:
    """The request page; shown again (400) with ``whose_missing`` when an "allow" did not say
    whose data it is about, with the fields ``ticked`` as they were sent."""
    parts = wallet_parts()
    service = grant.client.service
    access_request = grant.request.access_request
    purpose = parts.db.session.get(Purpose, access_request.purpose)
    assert purpose is not None  # the server validated the purpose
    catalogue = parts.sources.catalogue
    items = []
    for item in access_request.items:
        source = catalogue[item.connector]
        resource = source.resources[item.resource]
        items.append(
            {
                "item": item,
                "source": source,
                "resource": resource,
                "fields": [resource.fields[name] for name in item.fields],
            }
        )
    try:
        change = proposed_change(
            parts.db.session,
            subject_id=subject.id,
            service_id=service.id,
            request=access_request,
            now=utcnow(),
            target=grant.request.grant_target,
        )
    except TargetNotStanding:
        return _not_standing()
    response = make_response(
        render_template(
            "wallet/authorize.html",
            change=change,
            field_label=lambda name: _field_label(catalogue, name),
            service=service,
            purpose=purpose,
            basis=LEGAL_BASES.get(purpose.legal_basis),
            items=items,
            duration=access_request.duration,
            action=request.full_path.rstrip("?"),
            choice=choice,
            ticked=ticked,
            whose_missing=whose_missing,
        ),
        400 if whose_missing else 200,
    )
    response.headers["X-Serdika-Form-Action"] = _origin(grant.redirect_uri)
    if not whose_missing:
        _notice(subject, service.client_id)
    return response


@signed_in
def _answer(subject: Subject, grant: ConsentGrant) -> Response:
    decision = request.form.get("decision")
    if decision not in ("allow", "deny"):
        return error_page(400, _("Please choose to allow or to deny the request."))
    chosen = request.form.get("subject")
    if decision == "allow" and not chosen:
        # A parent says whose data it is: nobody is chosen for them (wallet_ui.children).
        choice = request_choice(subject, utcnow())
        if choice.children:
            ticked = request.form.getlist("fields")
            return _request_page(subject, grant, choice, ticked=ticked, whose_missing=True)
    parts = wallet_parts()
    try:
        answer = Answer(
            allow=decision == "allow",
            ticked=request.form.getlist("fields"),
            # The citizen themself, or a minor child they answer for (wallet_ui.children).
            ward_id=ward_chosen(chosen),
            target=grant.request.grant_target,
        )
        with parts.db.writing() as writer:
            recorded = answer_request(
                writer,
                parts.domain,
                parts.sources.catalogue,
                citizen=subject,
                service=grant.client.service,
                request=grant.request.access_request,
                answer=answer,
                now=utcnow(),
            )
            if recorded.replaced:
                parts.oauth.consent_replaced(writer, recorded.consent)
            elif recorded.amended:
                # Its live refresh tokens last until its new end (consent.amendment).
                parts.oauth.consent_extended(writer, recorded.consent)
            writer.commit()
            return parts.oauth.create_authorization_response(
                grant=grant,
                grant_user=GrantedSubject(recorded.subject.id, recorded.consent)
                if recorded.granted
                else None,
            )
    except TargetNotStanding:
        return _not_standing()
    except NotInCare:
        return error_page(
            403,
            _(
                "You cannot answer for this person: they are not a "
                "child in your care, or they have come of age. Nothing "
                "was recorded."
            ),
        )


def _not_standing() -> Response:
    return error_page(
        409,
        _(
            "The service asks to change a consent that is not yours or is no longer in "
            "force. Nothing was recorded; the service can ask you again."
        ),
    )


def _field_label(catalogue: Mapping[str, ConnectorDescription], name: tuple[str, str, str]) -> str:
    """A field of a consent's scope in the citizen's words; its name if the catalogue lost it."""
    connector, resource, field = name
    try:
        description = catalogue[connector].resources[resource]
        return _(
            "%(field)s (%(resource)s)",
            field=description.fields[field].label(current_locale()),
            resource=description.label(current_locale()),
        )
    except KeyError:
        return ".".join(name)


def _notice(subject: Subject, client_id: str) -> None:
    """Notice the request shown (consent.notifications.notice_request: once a day a service)."""
    try:
        with wallet_parts().db.writing() as session:
            notice_request(session, subject_id=subject.id, client_id=client_id, now=utcnow())
    except SQLAlchemyError:
        # The request page matters more than its notice: show it, and say so in the log.
        log.exception("the notice of a request could not be recorded")


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"
