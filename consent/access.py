"""Read a citizen's personal data for a service: the use case behind the data API.

One call answers one read, ``GET /api/v1/data/<connector>/<resource>``::

    token ──> AccessTokens.grant ──> Sources.locate ──> evaluate (consent.decisions)
          ──> resolve_read (consent.constraints) ──> ReadQuotas.take
          ──> open the national id (Keyring) ──> connector.fetch ──> enforce (connectors.limits)
          ──> ReadLedger.append_read (decide again under the consent's row lock, and
              append data:read in that transaction)  ──> ReadResult

Every step that refuses returns a :class:`Refusal`; a refusal that can be tied to a live
consent is written to the ledger as ``data:read_refused`` with its reason, so the citizen sees
it in their access history. Refusals of unusable tokens, and malformed requests, are not
written: they name no consent, and would let anyone fill the ledger.

The collaborators are small protocols (:mod:`consent.access_ports`); the broker implements
them over its prepared statements (``broker.api.read_ports``), and tests may implement them in
memory.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from commons.clock import city_zone
from connectors.base import (
    ConnectorError,
    Constraints,
    ResourceDescription,
    SourceUnavailable,
    SubjectRef,
)
from connectors.limits import enforce
from consent.access_ports import ReadPorts, Source, TokenRefused, check_binding
from consent.constraints import (
    BadReadParameters,
    GrantedLimits,
    ReadRefused,
    parse_read_parameters,
    resolve_read,
)
from consent.crypto import open_national_id
from consent.decisions import ConsentState, Decision, Reason, evaluate
from consent.ledger.entries import LedgerEvent
from consent.types import utcnow

log = logging.getLogger(__name__)

_FIELD_LIST = re.compile(r"^[a-z][a-z0-9_]{0,63}(,[a-z][a-z0-9_]{0,63}){0,63}$")

#: What a service is told for each refusal of the decision (consent.decisions.Reason).
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

#: Retry-After for a connector that this node does not have (another node may).
UNCONFIGURED_RETRY_AFTER = 30


# --- the request and its outcomes ------------------------------------------------------------


@dataclass(frozen=True)
class ReadRequest:
    """One read as the service sent it: its token, what it names, and its query parameters
    (``fields``, ``from``, ``to``, ``granularity``), still unparsed."""

    token: str
    connector: str
    resource: str
    parameters: Mapping[str, str]
    #: The RFC 7638 thumbprint of the key of the DPoP proof the host checked with the token
    #: (RFC 9449 §7), or None when the token came as a bearer token.
    proof_jkt: str | None = None


class RefusalKind(StrEnum):
    """How a refusal reaches the service: the RFC 6750 error, or a problem type."""

    INVALID_TOKEN = "invalid_token"  # noqa: S105 (an error code, not a secret)
    INSUFFICIENT_SCOPE = "insufficient_scope"
    INVALID_REQUEST = "invalid_request"
    UNKNOWN_RESOURCE = "unknown_resource"
    #: The consent's frequency is spent for now: try again after ``retry_after`` seconds.
    TOO_MANY_READS = "too_many_reads"
    SOURCE_ERROR = "source_error"


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    detail: str | None
    #: The problem's title and status where the kind does not fix them (source errors, 400s).
    title: str | None = None
    status: int | None = None
    retry_after: int | None = None
    #: The token is DPoP-bound, or came with a proof: the challenge names DPoP (RFC 9449 §7.1).
    proof_of_possession: bool = False


@dataclass(frozen=True)
class ReadResult:
    consent_id: str
    #: The citizen's pairwise pseudonym for this service.
    subject: str
    resource: str
    data: dict[str, Any]
    #: The resolved window of a dated or series read: ``from``, ``to``, ``granularity``.
    window: dict[str, str]

    def body(self) -> dict[str, Any]:
        """The JSON answer of the data API."""
        return {
            "consent_id": self.consent_id,
            "subject": self.subject,
            "resource": self.resource,
            "data": self.data,
            **self.window,
        }


# --- the use case ----------------------------------------------------------------------------


def read_personal_data(
    ports: ReadPorts, request: ReadRequest, now: datetime
) -> ReadResult | Refusal:
    """Read what the consent behind ``request.token`` allows, and record it in the ledger."""
    try:
        grant = ports.tokens.grant(request.token, now)
        # RFC 9449 §7: a bound token only with a proof of its key, which the host checked.
        check_binding(grant.jkt, request.proof_jkt)
    except TokenRefused as refused:
        return Refusal(
            RefusalKind.INVALID_TOKEN,
            refused.detail,
            proof_of_possession=refused.proof_of_possession,
        )
    if grant.consent_id is None:
        return Refusal(
            RefusalKind.INSUFFICIENT_SCOPE,
            "This token carries no consent; it cannot read personal data.",
        )
    fields = _field_list(request.parameters.get("fields"))
    if isinstance(fields, Refusal):
        return fields

    # What a service names goes into the ledger only from a closed set: the catalogue's and the
    # consent's own names. A path naming neither is refused before anything is written.
    source = ports.sources.locate(request.connector, request.resource)
    known_fields = _known_fields(source, grant.consent, request.connector, request.resource)
    if known_fields is None:
        return Refusal(
            RefusalKind.UNKNOWN_RESOURCE,
            "This broker has no such connector or resource.",
            title="Unknown resource",
            status=404,
        )
    decision = evaluate(
        grant.consent,
        client_id=grant.client_id,
        now=now,
        connector=request.connector,
        resource=request.resource,
        fields=fields,
    )
    read = _Read(ports, request, grant.client_id, decision, now, source, known_fields)
    if not decision.allowed:
        read.record_refusal(decision.reason, fields)
        return _refused(decision.reason)
    return read.go(grant.sealed_national_id)


def _refused(reason: Reason) -> Refusal:
    """The service's answer to a refusal of the decision."""
    kind = RefusalKind.INVALID_TOKEN if reason.ends_consent else RefusalKind.INSUFFICIENT_SCOPE
    return Refusal(kind, REFUSALS[reason])


def _known_fields(
    source: Source | None, state: ConsentState | None, connector: str, resource: str
) -> frozenset[str] | None:
    """The field names of the resource in the catalogue or the consent; None: no such thing."""
    granted = [
        item
        for item in (state.scope if state is not None else [])
        if item["connector"] == connector and item["resource"] == resource
    ]
    if source is None and not granted:
        return None
    names = set(source.resource.fields) if source is not None else set()
    for item in granted:
        names.update(item["fields"])
    return frozenset(names)


def _field_list(value: str | None) -> list[str] | Refusal | None:
    if value is None:
        return None
    if not _FIELD_LIST.match(value):
        return Refusal(
            RefusalKind.INVALID_REQUEST,
            "Give field names separated by commas, such as fields=a,b.",
            title="Bad 'fields' parameter",
            status=400,
        )
    return value.split(",")


@dataclass
class _Read:
    """A read the consent allows, from the source to the ledger."""

    ports: ReadPorts
    request: ReadRequest
    client_id: str
    decision: Decision
    now: datetime
    source: Source | None
    #: The names a ledger entry may carry (:func:`_known_fields`).
    known_fields: frozenset[str]

    @property
    def state(self) -> ConsentState:
        assert self.decision.state is not None  # an allowed decision has its consent
        return self.decision.state

    def go(self, sealed_national_id: bytes | None) -> ReadResult | Refusal:
        request, fields, source = self.request, self.decision.fields, self.source
        if source is None:
            self.record_refusal("source:SourceUnavailable", fields)
            return Refusal(
                RefusalKind.SOURCE_ERROR,
                f"Connector {request.connector!r} is not configured on this node.",
                title=SourceUnavailable.title,
                status=SourceUnavailable.status,
                retry_after=UNCONFIGURED_RETRY_AFTER,
            )
        limits = GrantedLimits.stored(self.decision.constraints)
        constraints = self._constraints(limits, source.resource)
        if isinstance(constraints, Refusal):
            return constraints
        refused = self._take_quota(limits)
        if refused is not None:
            return refused
        try:
            if sealed_national_id is None:
                raise SourceUnavailable("the subject's identifier is unavailable")
            national_id = open_national_id(
                self.ports.keyring, sealed_national_id, self.state.subject_id
            )
            data = enforce(
                source.resource,
                fields,
                constraints,
                source.connector.fetch(
                    SubjectRef(national_id), request.resource, fields, constraints
                ),
            )
        except ConnectorError as error:
            return self._source_failed(error, limits)
        window = _window(constraints)
        # The source may take seconds: decide again, as the consent now stands, in the
        # transaction that records the read (docs/architecture.md, "The path of a data read").
        final = self.ports.ledger.append_read(
            self.state.id,
            self._decide_again,
            at=self.now,
            service=self.state.client_id,
            details={**self._what(fields), **window},
        )
        if not final.allowed:
            if limits.frequency is not None:
                self.ports.quotas.give_back(self.state.id, request.connector, request.resource)
            self.record_refusal(final.reason, fields)
            return _refused(final.reason)
        return ReadResult(
            self.state.id, self.state.subject_pairwise, request.resource, data, window
        )

    def _decide_again(self, state: ConsentState | None) -> Decision:
        """The decision on exactly the fields read, against the consent's current state."""
        return evaluate(
            state,
            client_id=self.client_id,
            now=self.now,
            connector=self.request.connector,
            resource=self.request.resource,
            fields=self.decision.fields,
        )

    def _constraints(
        self, limits: GrantedLimits, resource: ResourceDescription
    ) -> Constraints | Refusal:
        try:
            asked_from, asked_to, asked_granularity = parse_read_parameters(self.request.parameters)
            return resolve_read(
                limits,
                resource,
                asked_from=asked_from,
                asked_to=asked_to,
                asked_granularity=asked_granularity,
                today=self.now.astimezone(city_zone()).date(),
            )
        except BadReadParameters as error:
            return Refusal(
                RefusalKind.INVALID_REQUEST, str(error), title="Bad read parameters", status=400
            )
        except ReadRefused as refused:
            self.record_refusal(refused.reason, self.decision.fields)
            return Refusal(RefusalKind.INSUFFICIENT_SCOPE, refused.detail)

    def _take_quota(self, limits: GrantedLimits) -> Refusal | None:
        frequency = limits.frequency
        if frequency is None:
            return None
        wait = self.ports.quotas.take(
            self.state.id,
            self.request.connector,
            self.request.resource,
            frequency.max_reads,
            frequency.period,
            self.now,
        )
        if wait is None:
            return None
        self.record_refusal("frequency_exceeded", self.decision.fields)
        return Refusal(
            RefusalKind.TOO_MANY_READS,
            f"The consent allows {frequency.max_reads} read(s) per "
            f"{frequency.per}; the next is possible in {wait} s.",
            title="Too many reads",
            status=429,
            retry_after=wait,
        )

    def _source_failed(self, error: ConnectorError, limits: GrantedLimits) -> Refusal:
        request = self.request
        log.warning(
            "read failed: connector=%s resource=%s error=%s",
            request.connector,
            request.resource,
            type(error).__name__,
        )
        if limits.frequency is not None:
            self.ports.quotas.give_back(self.state.id, request.connector, request.resource)
        self.record_refusal(f"source:{type(error).__name__}", self.decision.fields)
        return Refusal(
            RefusalKind.SOURCE_ERROR,
            str(error) or None,
            title=error.title,
            status=error.status,
            retry_after=error.retry_after if isinstance(error, SourceUnavailable) else None,
        )

    def _what(self, fields: Sequence[str] | None) -> dict[str, Any]:
        state = self.state
        return {
            "subject": state.subject_pseudonym,
            "purpose": state.purpose,
            "connector": self.request.connector,
            "resource": self.request.resource,
            "fields": [name for name in fields or () if name in self.known_fields],
        }

    def record_refusal(self, reason: str, fields: Sequence[str] | None) -> None:
        """Write a refused read to the ledger when it can be tied to a consent."""
        state = self.decision.state
        if state is None:
            return
        # Stamped when refused (after a slow source, later than the request), as it always was.
        self.ports.ledger.append(
            LedgerEvent.DATA_READ_REFUSED,
            at=utcnow(),
            consent_id=state.id,
            service=self.client_id,
            details={**self._what(fields), "reason": str(reason)},
        )


def _window(constraints: Constraints) -> dict[str, str]:
    """The dated read's resolved window, for the answer and the ledger."""
    window = {}
    if constraints.date_from is not None and constraints.date_to is not None:
        window = {"from": constraints.date_from.isoformat(), "to": constraints.date_to.isoformat()}
    if constraints.granularity is not None:
        window["granularity"] = constraints.granularity.value
    return window
