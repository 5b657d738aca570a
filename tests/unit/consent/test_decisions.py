"""The one decision function: properties of the pure ``evaluate``, examples, and the live DB."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commons import egn
from consent.accounts import create_subject
from consent.decisions import ConsentState, Reason, decide_access, evaluate
from consent.lifecycle import record_decision, revoke_consent
from consent.models import ConsentStatus, Service
from consent.requests import AccessRequest, ScopeItem

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CLIENTS = ("kindergartens", "transport-card", "energy-support")
CONNECTORS = ("civil_registry", "tax_office")
RESOURCES = ("person", "household")
FIELDS = ("given_name", "family_name", "birth_date", "address", "national_id")
STATUSES = (*tuple(ConsentStatus), "garbage")


def _state(**overrides: Any) -> ConsentState:
    values: dict[str, Any] = dict(
        id="cns_x", client_id="kindergartens", status=ConsentStatus.ACTIVE,
        expires_at=NOW + timedelta(days=90),
        scope=[{"connector": "civil_registry", "resource": "person",
                "fields": ["given_name", "family_name"], "actions": ["read"]}],
        subject_id=1, subject_pairwise="sub_x", subject_pseudonym="ab" * 32,
        purpose="kindergarten_enrolment",
    )
    values.update(overrides)
    return ConsentState(**values)


# --- properties ---------------------------------------------------------------------------

times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                     timezones=st.just(UTC))
scope_items = st.fixed_dictionaries({
    "connector": st.sampled_from(CONNECTORS),
    "resource": st.sampled_from(RESOURCES),
    "fields": st.lists(st.sampled_from(FIELDS), max_size=len(FIELDS), unique=True),
    "actions": st.sampled_from([["read"], [], ["write"], ["write", "read"]]),
})
states = st.builds(
    _state,
    client_id=st.sampled_from(CLIENTS),
    status=st.sampled_from(STATUSES),
    expires_at=st.none() | times,
    scope=st.lists(scope_items, max_size=4),
)
asked_fields = st.none() | st.lists(st.sampled_from((*FIELDS, "ssn", "photo")), max_size=7)


def _readable(state: ConsentState, connector: str, resource: str) -> list[dict[str, Any]]:
    return [item for item in state.scope if item["connector"] == connector
            and item["resource"] == resource and "read" in item["actions"]]


@settings(max_examples=500, deadline=None)
@given(state=st.none() | states, client_id=st.sampled_from(CLIENTS), now=times,
       connector=st.none() | st.sampled_from(CONNECTORS), resource=st.sampled_from(RESOURCES),
       fields=asked_fields)
def test_evaluate_never_allows_outside_the_consent(state, client_id, now, connector, resource,
                                                   fields):
    decision = evaluate(state, client_id=client_id, now=now, connector=connector,
                        resource=resource, fields=fields)
    assert decision.allowed == (decision.reason == Reason.GRANTED)
    if not decision.allowed:
        assert decision.fields == ()
        return
    assert state is not None
    assert decision.state == state
    assert state.client_id == client_id
    assert state.status == ConsentStatus.ACTIVE
    assert state.expires_at is not None and now < state.expires_at
    if connector is None:
        assert decision.fields == ()
        return
    items = _readable(state, connector, resource)
    assert items, "a resource outside the scope was allowed"
    granted = {name for item in items for name in item["fields"]}
    assert set(decision.fields) <= granted
    if fields is not None:
        assert decision.fields == tuple(dict.fromkeys(fields))
        assert decision.fields, "an empty read was allowed"


@settings(max_examples=300, deadline=None)
@given(state=states, now=times, resource=st.sampled_from(RESOURCES),
       connector=st.sampled_from(CONNECTORS), data=st.data())
def test_evaluate_allows_what_the_consent_grants(state, now, resource, connector, data):
    """The converse: a read wholly inside an active, unexpired consent is allowed."""
    items = _readable(state, connector, resource)
    in_force = (state.status == ConsentStatus.ACTIVE and state.expires_at is not None
                and now < state.expires_at)
    if not (in_force and items and items[0]["fields"]):
        return
    asked = data.draw(st.lists(st.sampled_from(items[0]["fields"]), min_size=1))
    decision = evaluate(state, client_id=state.client_id, now=now, connector=connector,
                        resource=resource, fields=asked)
    assert decision.allowed and decision.reason == Reason.GRANTED
    assert decision.fields == tuple(dict.fromkeys(asked))
    everything = evaluate(state, client_id=state.client_id, now=now, connector=connector,
                          resource=resource)
    assert everything.allowed and everything.fields == tuple(items[0]["fields"])


# --- one example per reason -----------------------------------------------------------------

def _decide(state: ConsentState | None, **kwargs: Any):
    params: dict[str, Any] = dict(client_id="kindergartens", now=NOW,
                                  connector="civil_registry", resource="person",
                                  fields=["given_name"])
    params.update(kwargs)
    return evaluate(state, **params)


def test_granted_returns_the_asked_fields_once():
    decision = _decide(_state(), fields=["family_name", "given_name", "family_name"])
    assert decision.allowed and decision.reason == Reason.GRANTED
    assert decision.fields == ("family_name", "given_name")


def test_granted_without_fields_returns_every_granted_field():
    decision = _decide(_state(), fields=None)
    assert decision.allowed and decision.fields == ("given_name", "family_name")


def test_granted_without_connector_only_says_in_force():
    decision = _decide(_state(), connector=None, resource=None, fields=None)
    assert decision.allowed and decision.reason == Reason.GRANTED and decision.fields == ()


def test_unknown_consent():
    decision = _decide(None)
    assert not decision.allowed and decision.reason == Reason.UNKNOWN_CONSENT
    assert decision.state is None


def test_wrong_client_learns_nothing_of_the_consent():
    decision = _decide(_state(), client_id="transport-card")
    assert not decision.allowed and decision.reason == Reason.WRONG_CLIENT
    assert decision.state is None


@pytest.mark.parametrize("status", [ConsentStatus.REQUESTED, ConsentStatus.DENIED, "garbage"])
def test_not_active(status):
    decision = _decide(_state(status=status))
    assert not decision.allowed and decision.reason == Reason.NOT_ACTIVE


def test_revoked():
    decision = _decide(_state(status=ConsentStatus.REVOKED))
    assert not decision.allowed and decision.reason == Reason.REVOKED


def test_paused_refuses_everything_but_does_not_end_the_consent():
    for kwargs in ({}, {"connector": None, "resource": None, "fields": None}):
        decision = _decide(_state(status=ConsentStatus.PAUSED), **kwargs)
        assert not decision.allowed and decision.reason == Reason.PAUSED
        assert not decision.reason.ends_consent


def test_paused_past_its_end_is_expired():
    decision = _decide(_state(status=ConsentStatus.PAUSED, expires_at=NOW))
    assert not decision.allowed and decision.reason == Reason.EXPIRED


def test_expired_status():
    decision = _decide(_state(status=ConsentStatus.EXPIRED))
    assert not decision.allowed and decision.reason == Reason.EXPIRED


@pytest.mark.parametrize("expires_at", [NOW, NOW - timedelta(seconds=1), None])
def test_expired_by_time_even_while_marked_active(expires_at):
    decision = _decide(_state(expires_at=expires_at))
    assert not decision.allowed and decision.reason == Reason.EXPIRED


@pytest.mark.parametrize("connector,resource", [
    ("civil_registry", "household"), ("tax_office", "person"), ("civil_registry", None),
])
def test_resource_not_granted(connector, resource):
    decision = _decide(_state(), connector=connector, resource=resource)
    assert not decision.allowed and decision.reason == Reason.RESOURCE_NOT_GRANTED


def test_resource_granted_without_read_action_is_not_readable():
    state = _state(scope=[{"connector": "civil_registry", "resource": "person",
                           "fields": ["given_name"], "actions": ["write"]}])
    assert _decide(state).reason == Reason.RESOURCE_NOT_GRANTED


@pytest.mark.parametrize("fields", [["national_id"], ["given_name", "national_id"], []])
def test_field_not_granted_refuses_the_whole_read(fields):
    decision = _decide(_state(), fields=fields)
    assert not decision.allowed and decision.reason == Reason.FIELD_NOT_GRANTED
    assert decision.fields == ()


def test_which_reasons_end_the_consent():
    assert {reason for reason in Reason if reason.ends_consent} == {
        Reason.UNKNOWN_CONSENT, Reason.WRONG_CLIENT, Reason.NOT_ACTIVE, Reason.REVOKED,
        Reason.EXPIRED}


# --- against the database -------------------------------------------------------------------

def _active_consent(broker: Any, session: Any, client_id: str) -> Any:
    born = date(1970, 1, 1) + timedelta(days=secrets.randbelow(15000))
    subject = create_subject(session, broker.keys.keyring,
                             username="dec_" + secrets.token_hex(6),
                             password="a long enough password",
                             national_id=egn.make(born, secrets.randbelow(1000)))
    service = session.scalar(select(Service).where(Service.client_id == client_id))
    request = AccessRequest("kindergarten_enrolment", "P90D", (
        ScopeItem("civil_registry", "person", ("given_name", "family_name")),))
    return record_decision(session, broker.domain, subject=subject, service=service,
                           request=request, allow=True, now=datetime.now(UTC))


def test_decide_access_reads_the_live_status(broker, demo):
    client_id = demo["services"][0]["client_id"]
    with broker.db.sessions() as writer, broker.db.writing(writer):
        consent = _active_consent(broker, writer, client_id)
    ask = dict(consent_id=consent.id, client_id=client_id, connector="civil_registry",
               resource="person", fields=["given_name"])

    with broker.db.sessions() as reader:
        before = decide_access(reader, now=datetime.now(UTC), **ask)
        assert before.allowed and before.fields == ("given_name",)
        assert before.state.subject_pairwise == consent.subject_pairwise

    with broker.db.sessions() as revoker, broker.db.writing(revoker):
        revoke_consent(revoker, broker.domain, revoker.merge(consent), now=datetime.now(UTC))

    with broker.db.sessions() as reader:
        after = decide_access(reader, now=datetime.now(UTC), **ask)
        assert not after.allowed and after.reason == Reason.REVOKED
        in_force = decide_access(reader, consent_id=consent.id, client_id=client_id,
                                 now=datetime.now(UTC))
        assert not in_force.allowed and in_force.reason.ends_consent


def test_decide_access_unknown_and_wrong_client(broker, demo):
    client_id = demo["services"][0]["client_id"]
    with broker.db.sessions() as writer, broker.db.writing(writer):
        consent = _active_consent(broker, writer, client_id)
    with broker.db.sessions() as reader:
        now = datetime.now(UTC)
        assert decide_access(reader, consent_id="cns_nope", client_id=client_id,
                             now=now).reason == Reason.UNKNOWN_CONSENT
        assert decide_access(reader, consent_id=consent.id, client_id="transport-card",
                             now=now).reason == Reason.WRONG_CLIENT
        later = now + timedelta(days=91)
        assert decide_access(reader, consent_id=consent.id, client_id=client_id,
                             now=later).reason == Reason.EXPIRED
