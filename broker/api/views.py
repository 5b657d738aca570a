"""The data API: a service reads only the consented fields of one resource of one citizen."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, current_app, json, request

from broker.api.tokens import TokenRefused, bearer_from, read_grant
from broker.prepared import append_prepared
from broker.problems import insufficient_scope, invalid_token, missing_token, problem
from connectors.base import ConnectorError, SourceUnavailable, SubjectRef
from consent.decisions import Decision, Reason, evaluate
from consent.ledger import LedgerEvent
from consent.types import utcnow

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")

_FIELD_LIST = re.compile(r"^[a-z][a-z0-9_]{0,63}(,[a-z][a-z0-9_]{0,63}){0,63}$")

REFUSALS = {
    Reason.UNKNOWN_CONSENT: "The consent behind this token does not exist.",
    Reason.WRONG_CLIENT: "The token was not issued to this client.",
    Reason.NOT_ACTIVE: "The consent behind this token is not active.",
    Reason.REVOKED: "The citizen revoked the consent behind this token.",
    Reason.EXPIRED: "The consent behind this token has expired.",
    Reason.RESOURCE_NOT_GRANTED: "The consent does not cover this resource.",
    Reason.FIELD_NOT_GRANTED: "The consent does not cover every field asked for.",
}


def _broker():  # type: ignore[no-untyped-def]
    return current_app.extensions["serdika"]


@bp.get("/data/<connector>/<resource>")
def read_data(connector: str, resource: str) -> Response:
    broker = _broker()
    now = utcnow()
    try:
        grant = read_grant(broker.db.raw, broker.db.dialect, bearer_from(request), now)
    except TokenRefused as refused:
        return missing_token() if refused.missing else invalid_token(refused.detail)
    if grant.consent_id is None:
        return insufficient_scope("This token carries no consent; it cannot read personal data.")

    fields_param = request.args.get("fields")
    fields: list[str] | None = None
    if fields_param is not None:
        if not _FIELD_LIST.match(fields_param):
            return problem(400, "Bad 'fields' parameter",
                           "Give field names separated by commas, such as fields=a,b.",
                           code="invalid_request")
        fields = fields_param.split(",")

    decision = evaluate(grant.consent, client_id=grant.client_id, now=now,
                        connector=connector, resource=resource, fields=fields)
    if not decision.allowed:
        _record_refusal(broker, decision, grant.client_id, connector, resource, fields,
                        decision.reason)
        detail = REFUSALS[decision.reason]
        if decision.reason.ends_consent:
            return invalid_token(detail)
        return insufficient_scope(detail)

    state = decision.state
    assert state is not None
    source = broker.connectors.get(connector)
    try:
        if source is None:
            raise SourceUnavailable(f"connector {connector!r} is not configured on this node")
        if grant.sealed_national_id is None:
            raise SourceUnavailable("the subject's identifier is unavailable")
        national_id = broker.keys.keyring.open(grant.sealed_national_id,
                                               b"subject:%d" % state.subject_id)
        data = source.fetch(SubjectRef(national_id.decode()), resource, decision.fields)
    except ConnectorError as error:
        log.warning("read failed: connector=%s resource=%s error=%s", connector, resource,
                    type(error).__name__)
        _record_refusal(broker, decision, grant.client_id, connector, resource,
                        decision.fields, f"source:{type(error).__name__}")
        headers = {}
        if isinstance(error, SourceUnavailable):
            headers["Retry-After"] = str(error.retry_after)
        return problem(error.status, error.title, str(error) or None,
                       code="source_error", headers=headers)

    append_prepared(
        broker.db, LedgerEvent.DATA_READ, at=now, consent_id=state.id,
        service=state.client_id,
            details={"subject": state.subject_pseudonym, "purpose": state.purpose,
                 "connector": connector, "resource": resource,
                 "fields": list(decision.fields)},
    )
    body = {"consent_id": state.id, "subject": state.subject_pairwise, "resource": resource,
            "data": data}
    response = Response(json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _record_refusal(broker, decision: Decision, client_id: str, connector: str,  # type: ignore[no-untyped-def]
                    resource: str, fields, reason: str) -> None:
    """Write a refused read to the ledger when it can be tied to a consent."""
    state = decision.state
    if state is None:
        return
    append_prepared(
        broker.db, LedgerEvent.DATA_READ_REFUSED, at=utcnow(), consent_id=state.id,
        service=client_id,
        details={"subject": state.subject_pseudonym, "purpose": state.purpose,
                 "connector": connector, "resource": resource,
                 "fields": list(fields) if fields else [], "reason": str(reason)},
    )
