"""The data API: a service reads only the consented fields of one resource of one citizen.

The view parses the request, calls :func:`consent.access.read_personal_data`, and renders its
result or refusal (docs/architecture.md, "The path of a data read").
"""

from __future__ import annotations

from flask import Blueprint, Response, json, request

from broker.api.tokens import bearer_from
from broker.parts import current_broker
from broker.problems import insufficient_scope, invalid_token, missing_token, problem
from consent.access import ReadRequest, ReadResult, Refusal, RefusalKind, read_personal_data
from consent.access_ports import TokenRefused
from consent.types import utcnow

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/data/<connector>/<resource>")
def read_data(connector: str, resource: str) -> Response:
    try:
        token = bearer_from(request)
    except TokenRefused as refused:
        return missing_token() if refused.missing else invalid_token(refused.detail)
    outcome = read_personal_data(
        current_broker().reads, ReadRequest(token, connector, resource, request.args), utcnow()
    )
    if isinstance(outcome, Refusal):
        return refusal_response(outcome)
    return _answer(outcome)


def _answer(result: ReadResult) -> Response:
    response = Response(json.dumps(result.body()), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal_response(refusal: Refusal) -> Response:
    """Render a refused read: an RFC 6750 challenge, or an RFC 9457 problem."""
    detail = refusal.detail or ""
    if refusal.kind is RefusalKind.INVALID_TOKEN:
        response = invalid_token(detail)
    elif refusal.kind is RefusalKind.INSUFFICIENT_SCOPE:
        response = insufficient_scope(detail)
    else:
        response = problem(
            refusal.status or 400,
            refusal.title or "Bad request",
            refusal.detail,
            code=str(refusal.kind),
        )
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response
