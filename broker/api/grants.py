"""The grant management endpoint (Grant Management for OAuth 2.0, draft §6):
``GET`` and ``DELETE /oauth2/grants/<grant_id>``.

A service asks about, or ends, a grant of its own with a client-credentials token carrying
``grant_management_query`` or ``grant_management_revoke`` (every registered service may ask
for them). A grant is a consent (:mod:`consent.service_grants`); another service's grant, an
ended one and an unknown id all answer 404, so nobody learns which consents exist. Ending a
grant is a withdrawal by the service: every token of it is refused from then on.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, g

from broker.api.tokens import requires_scope
from broker.oauth.grant_management import QUERY_SCOPE, REVOKE_SCOPE
from broker.oauth.personal_data import granted_details
from broker.parts import current_broker
from broker.problems import problem
from consent.service_grants import end_grant, standing_grant
from consent.types import utcnow

bp = Blueprint("grants", __name__, url_prefix="/oauth2/grants")


def _unknown() -> Response:
    return problem(
        404,
        "Unknown grant",
        "This client has no grant in force with this id.",
        code="unknown_grant",
        headers={"Cache-Control": "no-store"},
    )


@bp.get("/<grant_id>")
@requires_scope(QUERY_SCOPE)
def query_grant(grant_id: str) -> Response:
    db = current_broker().db
    consent = standing_grant(db.session, client_id=g.client_id, grant_id=grant_id, now=utcnow())
    if consent is None:
        return _unknown()
    body = {
        "grant_id": consent.id,
        "status": str(consent.status),
        "authorization_details": granted_details(consent),
        "expires_at": consent.expires_at.isoformat() if consent.expires_at else None,
    }
    response = Response(json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/<grant_id>")
@requires_scope(REVOKE_SCOPE)
def revoke_grant(grant_id: str) -> Response:
    broker = current_broker()
    with broker.db.writing() as session:
        ended = end_grant(
            session, broker.domain, client_id=g.client_id, grant_id=grant_id, now=utcnow()
        )
    if not ended:
        return _unknown()
    return Response(status=204, headers={"Cache-Control": "no-store"})
