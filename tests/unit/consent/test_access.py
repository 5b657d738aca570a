"""The data read as a use case alone: in-memory ports, no app, no database.

The broker's own ports (prepared statements) are driven end to end by
tests/functional/test_data_read_characterisation.py; here each rule of the read is shown on
ports a test can look inside.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import (
    Constraints,
    FieldDescription,
    ResourceDescription,
    SubjectNotFound,
    SubjectRef,
)
from consent.access import ReadRequest, ReadResult, Refusal, RefusalKind, read_personal_data
from consent.access_ports import AccessGrant, ReadPorts, Source, TokenRefused
from consent.crypto import Keyring, subject_context
from consent.decisions import ConsentState, Decision
from consent.models import ConsentStatus

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
KEYRING = Keyring(b"d" * 32, b"i" * 32)
NATIONAL_ID = "8803144710"
PERSON = ResourceDescription("person", "Лице", "Person", {
    name: FieldDescription(name, name, name, "https://w3id.org/dpv/pd#Name")
    for name in ("given_name", "family_name", "national_id")})


class Registry:
    """A source that remembers whom it was asked about."""

    name = "registry"

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.failure: Exception | None = None
        #: Runs while the source answers, as a citizen acting at that moment would.
        self.meanwhile: Callable[[], None] | None = None

    def describe(self) -> Any:
        raise NotImplementedError

    def fetch(self, subject: SubjectRef, resource: str, fields: Collection[str],
              constraints: Constraints | None = None) -> dict[str, Any]:
        self.asked.append(subject.national_id)
        if self.meanwhile is not None:
            self.meanwhile()
        if self.failure is not None:
            raise self.failure
        return {name: f"<{name}>" for name in fields}

    def health(self) -> Any:
        raise NotImplementedError


@dataclass
class Ports:
    grants: dict[str, AccessGrant] = field(default_factory=dict)
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    wait: int | None = None
    registry: Registry = field(default_factory=Registry)
    #: The consent as it stands when the read is recorded; None: as the token found it.
    current: ConsentState | None = None

    def grant(self, token: str, now: datetime) -> AccessGrant:
        if token not in self.grants:
            raise TokenRefused("The access token is not known.")
        return self.grants[token]

    def take(self, consent_id: str, connector: str, resource: str, max_reads: int,
             period: timedelta, now: datetime) -> int | None:
        self.taken.append(consent_id)
        return self.wait

    def give_back(self, consent_id: str, connector: str, resource: str) -> None:
        self.returned.append(consent_id)

    def append(self, event: Any, *, at: datetime, consent_id: str, service: str,
               details: dict[str, Any]) -> int:
        self.entries.append((str(event), details))
        return len(self.entries) - 1

    def append_read(self, consent_id: str, decide: Callable[[ConsentState | None], Decision],
                    *, at: datetime, service: str, details: dict[str, Any]) -> Decision:
        decision = decide(self.current or self.grants["token"].consent)
        if decision.allowed:
            self.append("data:read", at=at, consent_id=consent_id, service=service,
                        details=details)
        return decision

    def locate(self, connector: str, resource: str) -> Source | None:
        if (connector, resource) != ("registry", "person"):
            return None
        return Source(self.registry, PERSON)

    def bundle(self) -> ReadPorts:
        return ReadPorts(tokens=self, quotas=self, ledger=self, sources=self, keyring=KEYRING)


def _consent(**overrides: Any) -> ConsentState:
    item: dict[str, Any] = {"connector": "registry", "resource": "person",
                            "fields": ["given_name", "family_name"], "actions": ["read"]}
    item.update(overrides.pop("item", {}))
    values: dict[str, Any] = dict(
        id="cns_1", client_id="kindergartens", status=ConsentStatus.ACTIVE,
        expires_at=NOW + timedelta(days=30), scope=[item], subject_id=7,
        subject_pairwise="pairwise-7", subject_pseudonym="pseudonym-7",
        purpose="kindergarten_enrolment")
    values.update(overrides)
    return ConsentState(**values)


@pytest.fixture
def ports() -> Ports:
    ports = Ports()
    sealed = KEYRING.seal(NATIONAL_ID.encode(), subject_context(7))
    ports.grants["token"] = AccessGrant("kindergartens", "cns_1", _consent(), sealed)
    return ports


def _read(ports: Ports, path: str = "registry/person", **parameters: str
          ) -> ReadResult | Refusal:
    connector, resource = path.split("/")
    return read_personal_data(ports.bundle(), ReadRequest("token", connector, resource,
                                                          parameters), NOW)


def test_a_granted_read_hands_over_the_granted_fields_and_records_it(ports):
    result = _read(ports)
    assert result == ReadResult("cns_1", "pairwise-7", "person",
                                {"given_name": "<given_name>", "family_name": "<family_name>"},
                                {})
    assert ports.registry.asked == [NATIONAL_ID]
    assert ports.entries == [("data:read", {
        "subject": "pseudonym-7", "purpose": "kindergarten_enrolment", "connector": "registry",
        "resource": "person", "fields": ["given_name", "family_name"]})]


def test_an_unknown_token_is_refused_and_leaves_no_trace(ports):
    ports.grants.clear()
    assert _read(ports) == Refusal(RefusalKind.INVALID_TOKEN, "The access token is not known.")
    assert ports.entries == [] and ports.registry.asked == []


def test_a_field_beyond_the_consent_is_refused_and_recorded(ports):
    refusal = _read(ports, fields="given_name,national_id")
    assert isinstance(refusal, Refusal)
    assert refusal.kind is RefusalKind.INSUFFICIENT_SCOPE
    assert ports.registry.asked == []
    assert [(event, details["reason"]) for event, details in ports.entries] == [
        ("data:read_refused", "field_not_granted")]


def test_a_withdrawn_consent_ends_the_token(ports):
    grant = ports.grants["token"]
    ports.grants["token"] = AccessGrant(grant.client_id, grant.consent_id,
                                        _consent(status=ConsentStatus.REVOKED),
                                        grant.sealed_national_id)
    refusal = _read(ports)
    assert isinstance(refusal, Refusal) and refusal.kind is RefusalKind.INVALID_TOKEN
    assert ports.entries[0][1]["reason"] == "revoked"


@pytest.mark.parametrize(("bound", "proven"), [
    ("key-a", None),  # a DPoP-bound token presented as a bearer token
    ("key-a", "key-b"),  # with a proof of another key
    (None, "key-a"),  # a bearer token presented with a DPoP proof
])
def test_a_bound_token_reads_only_with_a_proof_of_its_key(ports, bound, proven):
    grant = ports.grants["token"]
    ports.grants["token"] = AccessGrant(grant.client_id, grant.consent_id, grant.consent,
                                        grant.sealed_national_id, jkt=bound)
    refusal = read_personal_data(
        ports.bundle(), ReadRequest("token", "registry", "person", {}, proof_jkt=proven), NOW)
    assert isinstance(refusal, Refusal)
    assert refusal.kind is RefusalKind.INVALID_TOKEN and refusal.proof_of_possession
    # An unusable token names no consent: nothing is read, nothing is written.
    assert ports.entries == [] and ports.registry.asked == []
    ports.grants["token"] = AccessGrant(grant.client_id, grant.consent_id, grant.consent,
                                        grant.sealed_national_id, jkt=proven)
    result = read_personal_data(
        ports.bundle(), ReadRequest("token", "registry", "person", {}, proof_jkt=proven), NOW)
    assert isinstance(result, ReadResult)


def test_a_malformed_field_list_is_a_bad_request_without_an_entry(ports):
    refusal = _read(ports, fields="Given Name")
    assert isinstance(refusal, Refusal)
    assert (refusal.kind, refusal.status) == (RefusalKind.INVALID_REQUEST, 400)
    assert ports.entries == []


def test_a_source_this_node_lacks_is_unavailable(ports):
    grant = ports.grants["token"]
    ports.grants["token"] = AccessGrant(
        grant.client_id, grant.consent_id, _consent(item={"connector": "elsewhere"}),
        grant.sealed_national_id)
    refusal = _read(ports, "elsewhere/person")
    assert isinstance(refusal, Refusal)
    assert (refusal.kind, refusal.status, refusal.retry_after) == (
        RefusalKind.SOURCE_ERROR, 503, 30)
    assert ports.entries[0][1]["reason"] == "source:SourceUnavailable"


def test_the_frequency_is_taken_and_given_back_when_the_source_fails(ports):
    grant = ports.grants["token"]
    limited = _consent(item={"constraints": {"frequency": {"max_reads": 1, "per": "P1D"}}})
    ports.grants["token"] = AccessGrant(grant.client_id, grant.consent_id, limited,
                                        grant.sealed_national_id)
    ports.registry.failure = SubjectNotFound("no such person")
    refusal = _read(ports)
    assert isinstance(refusal, Refusal) and refusal.status == 404
    assert ports.taken == ["cns_1"] and ports.returned == ["cns_1"]
    assert ports.entries[0][1]["reason"] == "source:SubjectNotFound"


def test_a_read_beyond_the_frequency_waits(ports):
    grant = ports.grants["token"]
    limited = _consent(item={"constraints": {"frequency": {"max_reads": 2, "per": "PT1H"}}})
    ports.grants["token"] = AccessGrant(grant.client_id, grant.consent_id, limited,
                                        grant.sealed_national_id)
    ports.wait = 600
    refusal = _read(ports)
    assert refusal == Refusal(
        RefusalKind.TOO_MANY_READS,
        "The consent allows 2 read(s) per PT1H; the next is possible in 600 s.",
        title="Too many reads", status=429, retry_after=600)
    assert ports.registry.asked == []
    assert ports.entries[0][1]["reason"] == "frequency_exceeded"


def test_a_subject_without_an_identifier_is_never_looked_up(ports):
    grant = ports.grants["token"]
    ports.grants["token"] = AccessGrant(grant.client_id, grant.consent_id, grant.consent, None)
    refusal = _read(ports)
    assert isinstance(refusal, Refusal) and refusal.status == 503
    assert ports.registry.asked == []


def test_a_path_neither_the_catalogue_nor_the_consent_names_writes_nothing(ports):
    refusal = _read(ports, "registry/maria_ivanova_8803144710")
    assert isinstance(refusal, Refusal)
    assert (refusal.kind, refusal.status) == (RefusalKind.UNKNOWN_RESOURCE, 404)
    assert ports.entries == [] and ports.registry.asked == []


def test_field_names_outside_the_catalogue_never_reach_the_ledger(ports):
    _read(ports, fields="national_id,maria_ivanova")
    assert ports.entries[0][1]["fields"] == ["national_id"]


@pytest.mark.parametrize(("meanwhile", "kind", "reason"), [
    ({"status": ConsentStatus.REVOKED}, RefusalKind.INVALID_TOKEN, "revoked"),
    ({"status": ConsentStatus.PAUSED}, RefusalKind.INSUFFICIENT_SCOPE, "paused"),
    ({"item": {"fields": ["given_name"]}}, RefusalKind.INSUFFICIENT_SCOPE, "field_not_granted"),
])
def test_a_consent_changed_while_the_source_answers_gets_nothing(ports, meanwhile, kind,
                                                                  reason):
    ports.registry.meanwhile = lambda: setattr(ports, "current", _consent(**meanwhile))
    result = _read(ports)
    assert isinstance(result, Refusal) and result.kind == kind
    assert [event for event, _ in ports.entries] == ["data:read_refused"]
    assert ports.entries[0][1]["reason"] == reason


def test_a_read_refused_at_the_end_gives_its_frequency_unit_back(ports):
    frequency = {"frequency": {"max_reads": 1, "per": "P1D"}}
    ports.grants["token"] = AccessGrant("kindergartens", "cns_1",
                                        _consent(item={"constraints": frequency}),
                                        ports.grants["token"].sealed_national_id)
    ports.registry.meanwhile = lambda: setattr(
        ports, "current", _consent(status=ConsentStatus.REVOKED, item={"constraints": frequency}))
    assert isinstance(_read(ports), Refusal)
    assert ports.taken == ["cns_1"] and ports.returned == ["cns_1"]
