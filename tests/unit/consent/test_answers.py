"""The citizen's answer to a request: fields kept, whose data, what is recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from consent.answers import Answer, NotInCare, answer_request, kept
from consent.ledger.entries import ledger_size
from consent.models import ConsentStatus, LedgerEntry
from tests.unit.consent.factories import REQUEST, child_of, citizen, service


def _answer(broker, session, demo, who, answer, now):
    return answer_request(
        session,
        broker.domain,
        broker.connectors.catalogue,
        citizen=who,
        service=service(session, demo),
        request=REQUEST,
        answer=answer,
        now=now,
    )


def test_required_fields_stay_and_optional_ones_only_when_ticked(broker):
    catalogue = broker.connectors.catalogue
    assert kept(REQUEST, catalogue, ()).items[0].fields == ("given_name", "family_name")
    ticked = kept(REQUEST, catalogue, ["civil_registry.person.birth_date"])
    assert ticked.items[0].fields == ("given_name", "family_name", "birth_date")
    assert kept(REQUEST, catalogue, ["civil_registry.person.gender"]).items[0].fields == (
        "given_name",
        "family_name",
    )


def test_an_allowed_answer_grants_only_the_fields_kept(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        recorded = _answer(broker, session, demo, who, Answer(allow=True), now)
        assert recorded.granted and recorded.subject.id == who.id
        assert recorded.consent.status == ConsentStatus.ACTIVE
        assert recorded.consent.scope[0]["fields"] == ["given_name", "family_name"]
        assert recorded.consent.decided_by_subject_id is None


def test_a_denial_is_recorded_as_denied(broker, demo):
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        recorded = _answer(broker, session, demo, who, Answer(allow=False), datetime.now(UTC))
        assert not recorded.granted
        assert recorded.consent.status == ConsentStatus.DENIED


def test_a_parent_answers_for_a_child_in_their_care(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        parent = citizen(broker, session)
        child = child_of(broker, session, parent, now)
        answer = Answer(allow=True, ward_id=child.id)
        recorded = _answer(broker, session, demo, parent, answer, now)
        assert recorded.subject.id == child.id
        assert recorded.consent.subject_id == child.id
        assert recorded.consent.decided_by_subject_id == parent.id
        entries = session.scalars(
            select(LedgerEntry.entry).where(LedgerEntry.consent_id == recorded.consent.id)
        ).all()
        assert {json.loads(entry).get("by") for entry in entries} >= {"guardian"}


def test_nobody_answers_for_someone_not_in_their_care(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        parent = citizen(broker, session)
        stranger = citizen(broker, session)
        size = ledger_size(session)
        with pytest.raises(NotInCare):
            _answer(broker, session, demo, parent, Answer(allow=True, ward_id=stranger.id), now)
        assert ledger_size(session) == size
