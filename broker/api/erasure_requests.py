"""The service's side of erasure requests under ``/api/v1/erasure-requests``.

A service lists the requests its citizens made (by the service's pairwise subject id, never a
national id) and acknowledges each one once it has erased what it received. It authenticates
with client credentials and the scope ``erasure:manage`` (every registered service may ask for
it). Every refusal is RFC 9457 problem+json.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, request, url_for
from sqlalchemy import select

from broker.api.tokens import requires_scope
from broker.parts import current_broker
from broker.problems import problem
from commons import iso8601
from consent.erasure_requests import (
    ServiceView,
    UnknownErasureRequest,
    acknowledge,
    for_service,
    one_for_service,
)
from consent.models import Consent, Service
from consent.types import utcnow

bp = Blueprint("erasure", __name__, url_prefix="/api/v1/erasure-requests")
ERASURE_SCOPE = "erasure:manage"
PAGE = 100


def _json(body: Any) -> Response:
    response = Response(json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _service_id(session: Any) -> int:
    service_id = session.scalar(select(Service.id).where(Service.client_id == g.client_id))
    assert service_id is not None  # the token was issued to a registered client
    return int(service_id)


def _as_json(view: ServiceView) -> dict[str, Any]:
    request_row = view.request
    return {
        "id": request_row.id,
        "consent_id": request_row.consent_id,
        "subject": view.subject,
        "status": "pending" if request_row.acknowledged_at is None else "acknowledged",
        "requested_at": _time(request_row.requested_at),
        "acknowledged_at": _time(request_row.acknowledged_at),
    }


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def _cursor(view: ServiceView) -> str:
    raw = f"{view.request.requested_at.isoformat()}|{view.request.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(raw: str | None) -> tuple[datetime, str] | None:
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        moment, _, request_id = text.partition("|")
        after = iso8601.instant(moment)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("'after' is not a cursor this API gave out.") from exc
    if not request_id.isprintable() or len(request_id) > 64:
        raise ValueError("'after' is not a cursor this API gave out.")
    return after, request_id


def _not_found(request_id: str) -> Response:
    return problem(
        404,
        "No such erasure request",
        "This service has no erasure request with this id.",
        code="not_found",
    )


@bp.get("")
@requires_scope(ERASURE_SCOPE)
def list_requests() -> Response:
    """``?status=pending`` (default) or ``all``; ``?after=`` continues a page (``next``)."""
    status = request.args.get("status", "pending")
    if status not in ("pending", "all"):
        return problem(
            400, "Bad argument", "'status' must be 'pending' or 'all'.", code="invalid_request"
        )
    try:
        after = _after(request.args.get("after"))
    except ValueError as error:
        return problem(400, "Bad argument", str(error), code="invalid_request")
    with current_broker().db.sessions() as session:
        views = for_service(
            session,
            _service_id(session),
            pending_only=status == "pending",
            after=after,
            limit=PAGE + 1,
        )
    body: dict[str, Any] = {"erasure_requests": [_as_json(view) for view in views[:PAGE]]}
    if len(views) > PAGE:
        body["next"] = url_for(
            "erasure.list_requests", status=status, after=_cursor(views[PAGE - 1]), _external=False
        )
    return _json(body)


@bp.get("/<request_id>")
@requires_scope(ERASURE_SCOPE)
def show_request(request_id: str) -> Response:
    with current_broker().db.sessions() as session:
        try:
            view = one_for_service(session, _service_id(session), request_id)
        except UnknownErasureRequest:
            return _not_found(request_id)
        return _json(_as_json(view))


@bp.post("/<request_id>/acknowledge")
@requires_scope(ERASURE_SCOPE)
def acknowledge_request(request_id: str) -> Response:
    """The service confirms the erasure; a repeat changes nothing and answers the same."""
    broker = current_broker()
    now = utcnow()
    with broker.db.writing() as session:
        try:
            row, _acknowledged_now = acknowledge(session, _service_id(session), request_id, now=now)
        except UnknownErasureRequest:
            return _not_found(request_id)
        consent = session.get(Consent, row.consent_id)
        assert consent is not None
        view = ServiceView(row, consent.subject_pairwise)
        session.commit()
        return _json(_as_json(view))
