"""The data API: a service reads only the consented fields of one resource of one citizen."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, json, request

from broker.api.tokens import TokenRefused, bearer_from, read_grant
from broker.parts import current_broker
from broker.prepared import append_prepared, give_back_read, take_read
from broker.problems import insufficient_scope, invalid_token, missing_token, problem
from commons.clock import city_zone
from connectors.base import ConnectorError, Constraints, SourceUnavailable, SubjectRef
from connectors.limits import enforce
from consent.constraints import (
    BadReadParameters,
    GrantedLimits,
    ReadRefused,
    parse_read_parameters,
    resolve_read,
)
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
    Reason.PAUSED: "The citizen has paused this consent.",
    Reason.REVOKED: "The citizen revoked the consent behind this token.",
    Reason.EXPIRED: "The consent behind this token has expired.",
    Reason.RESOURCE_NOT_GRANTED: "The consent does not cover this resource.",
    Reason.FIELD_NOT_GRANTED: "The consent does not cover every field asked for.",
}



@bp.get("/data/<connector>/<resource>")
def read_data(connector: str, resource: str) -> Response:
    broker = current_broker()
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
    description = broker.connectors.catalogue.get(connector)
    if source is None or description is None or resource not in description.resources:
        _record_refusal(broker, decision, grant.client_id, connector, resource,
                        decision.fields, "source:SourceUnavailable")
        return problem(503, SourceUnavailable.title,
                       f"Connector {connector!r} is not configured on this node.",
                       code="source_error", headers={"Retry-After": "30"})
    resource_description = description.resources[resource]
    limits = GrantedLimits.stored(decision.constraints)
    try:
        asked_from, asked_to, asked_granularity = parse_read_parameters(request.args)
        constraints = resolve_read(limits, resource_description, asked_from=asked_from,
                                   asked_to=asked_to, asked_granularity=asked_granularity,
                                   today=now.astimezone(city_zone()).date())
    except BadReadParameters as error:
        return problem(400, "Bad read parameters", str(error), code="invalid_request")
    except ReadRefused as refused:
        _record_refusal(broker, decision, grant.client_id, connector, resource,
                        decision.fields, refused.reason)
        return insufficient_scope(refused.detail)

    frequency = limits.frequency
    if frequency is not None:
        wait = take_read(broker.db, state.id, connector, resource, frequency.max_reads,
                         frequency.period, now)
        if wait is not None:
            _record_refusal(broker, decision, grant.client_id, connector, resource,
                            decision.fields, "frequency_exceeded")
            detail = (f"The consent allows {frequency.max_reads} read(s) per {frequency.per}; "
                      f"the next is possible in {wait} s.")
            response = insufficient_scope(detail)
            response.headers["Retry-After"] = str(wait)
            return response

    try:
        if grant.sealed_national_id is None:
            raise SourceUnavailable("the subject's identifier is unavailable")
        national_id = broker.keys.keyring.open(grant.sealed_national_id,
                                               b"subject:%d" % state.subject_id)
        data = enforce(resource_description, decision.fields, constraints,
                       source.fetch(SubjectRef(national_id.decode()), resource,
                                    decision.fields, constraints))
    except ConnectorError as error:
        log.warning("read failed: connector=%s resource=%s error=%s", connector, resource,
                    type(error).__name__)
        if frequency is not None:
            give_back_read(broker.db, state.id, connector, resource)
        _record_refusal(broker, decision, grant.client_id, connector, resource,
                        decision.fields, f"source:{type(error).__name__}")
        headers = {}
        if isinstance(error, SourceUnavailable):
            headers["Retry-After"] = str(error.retry_after)
        return problem(error.status, error.title, str(error) or None,
                       code="source_error", headers=headers)

    details = {"subject": state.subject_pseudonym, "purpose": state.purpose,
               "connector": connector, "resource": resource,
               "fields": list(decision.fields)}
    details.update(_window(constraints))
    append_prepared(broker.db, LedgerEvent.DATA_READ, at=now, consent_id=state.id,
                    service=state.client_id, details=details)
    body = {"consent_id": state.id, "subject": state.subject_pairwise, "resource": resource,
            "data": data}
    body.update(_window(constraints))
    response = Response(json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _window(constraints: Constraints) -> dict[str, str]:
    """The dated read's resolved window, for the answer and the ledger."""
    window = {}
    if constraints.date_from is not None and constraints.date_to is not None:
        window = {"from": constraints.date_from.isoformat(),
                  "to": constraints.date_to.isoformat()}
    if constraints.granularity is not None:
        window["granularity"] = constraints.granularity.value
    return window


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
