"""The data API: a service reads only the consented fields of one resource of one citizen.

The view parses the request, calls :func:`consent.access.read_personal_data`, and renders its
result or refusal (docs/architecture.md, "The path of a data read").
"""

from __future__ import annotations

from flask import Blueprint, Response, json, request

from broker.api.tokens import access_token_from
from broker.parts import current_broker
from broker.problems import insufficient_scope, invalid_token, problem
from consent.access import ReadRequest, ReadResult, Refusal, RefusalKind, read_personal_data
from consent.types import utcnow

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/data/<connector>/<resource>")
def read_data(connector: str, resource: str) -> Response:
    presented = access_token_from(request)
    if isinstance(presented, Response):
        return presented
    read = ReadRequest(presented.token, connector, resource, request.args, presented.proof_jkt)
    outcome = read_personal_data(current_broker().reads, read, utcnow())
    if isinstance(outcome, Refusal):
        return refusal_response(outcome, presented.scheme)
    return _answer(outcome)


def _answer(result: ReadResult) -> Response:
    response = Response(json.dumps(result.body()), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal_response(refusal: Refusal, scheme: str = "Bearer") -> Response:
    """Render a refused read: an RFC 6750 (or RFC 9449 §7.1) challenge, or an RFC 9457
    problem."""
    detail = refusal.detail or ""
    if refusal.proof_of_possession:
        scheme = "DPoP"
    if refusal.kind is RefusalKind.INVALID_TOKEN:
        response = invalid_token(detail, scheme=scheme)
    elif refusal.kind is RefusalKind.INSUFFICIENT_SCOPE:
        response = insufficient_scope(detail, scheme=scheme)
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
