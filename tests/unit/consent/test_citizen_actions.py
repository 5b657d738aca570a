"""What a citizen does to their consents, or a child's: withdraw, pause, resume, extend, erase."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from consent import citizen_actions
from consent.citizen_actions import NoSuchConsent
from consent.erasure_requests import ErasureNotPossible
from consent.extension import ExtensionRefused
from consent.lifecycle import Actor, record_decision
from consent.models import Consent, ConsentStatus, LedgerEntry
from tests.unit.consent.factories import REQUEST, child_of, citizen, granted, service


class Tokens:
    """A token store that remembers which consents it was told were extended."""

    def __init__(self) -> None:
        self.extended: list[str] = []

    def consent_extended(self, session, consent: Consent) -> None:
        self.extended.append(consent.id)


def _last_by(session, consent_id: str) -> str:
    entries = session.scalars(
        select(LedgerEntry.entry)
        .where(LedgerEntry.consent_id == consent_id)
        .order_by(LedgerEntry.index)
    ).all()
    return json.loads(entries[-1])["by"]


def test_withdrawing_twice_withdraws_once(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        consent = granted(broker, session, demo, who, now)
        for _ in range(2):
            assert citizen_actions.withdraw(
                session, broker.domain, citizen_id=who.id, consent_id=consent.id, now=now
            )
        assert consent.status == ConsentStatus.REVOKED
        assert _last_by(session, consent.id) == Actor.SUBJECT


def test_a_denied_consent_is_not_withdrawn(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        denied = record_decision(
            session,
            broker.domain,
            subject=who,
            service=service(session, demo),
            request=REQUEST,
            allow=False,
            now=now,
        )
        assert not citizen_actions.withdraw(
            session, broker.domain, citizen_id=who.id, consent_id=denied.id, now=now
        )
        with pytest.raises(ErasureNotPossible):
            citizen_actions.ask_erasure(session, citizen_id=who.id, consent_id=denied.id, now=now)


def test_nobody_acts_on_another_citizens_consent(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        owner, other = citizen(broker, session), citizen(broker, session)
        consent = granted(broker, session, demo, owner, now)
        for act in (citizen_actions.pause, citizen_actions.resume, citizen_actions.ask_erasure):
            with pytest.raises(NoSuchConsent):
                act(session, citizen_id=other.id, consent_id=consent.id, now=now)
        with pytest.raises(NoSuchConsent):
            citizen_actions.withdraw(
                session, broker.domain, citizen_id=other.id, consent_id=consent.id, now=now
            )
        with pytest.raises(NoSuchConsent):
            citizen_actions.pause(session, citizen_id=owner.id, consent_id="x" * 41, now=now)
        assert consent.status == ConsentStatus.ACTIVE


def test_a_parent_pauses_and_resumes_a_childs_consent_as_guardian(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        parent = citizen(broker, session)
        child = child_of(broker, session, parent, now)
        consent = granted(broker, session, demo, child, now, decided_by=parent)
        citizen_actions.pause(session, citizen_id=parent.id, consent_id=consent.id, now=now)
        assert consent.status == ConsentStatus.PAUSED
        assert _last_by(session, consent.id) == Actor.GUARDIAN
        citizen_actions.pause(session, citizen_id=parent.id, consent_id=consent.id, now=now)
        citizen_actions.resume(session, citizen_id=parent.id, consent_id=consent.id, now=now)
        assert consent.status == ConsentStatus.ACTIVE


def test_extending_needs_the_end_the_citizen_saw(broker, demo):
    now = datetime.now(UTC)
    tokens = Tokens()
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        consent = granted(broker, session, demo, who, now)
        seen = consent.expires_at.isoformat()
        ask = dict(citizen_id=who.id, consent_id=consent.id, now=now + timedelta(days=80))
        assert citizen_actions.extend(session, broker.domain, tokens, seen_end=None, **ask) is None
        extended = citizen_actions.extend(session, broker.domain, tokens, seen_end=seen, **ask)
        assert extended is not None and extended.expires_at.isoformat() != seen
        assert tokens.extended == [consent.id]
        # A second submit of the same page extends nothing more.
        assert citizen_actions.extend(session, broker.domain, tokens, seen_end=seen, **ask) is None
        assert tokens.extended == [consent.id]


def test_an_ended_consent_is_not_extended(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        consent = granted(broker, session, demo, who, now)
        citizen_actions.withdraw(
            session, broker.domain, citizen_id=who.id, consent_id=consent.id, now=now
        )
        with pytest.raises(ExtensionRefused):
            citizen_actions.extend(
                session,
                broker.domain,
                Tokens(),
                citizen_id=who.id,
                consent_id=consent.id,
                seen_end=consent.expires_at.isoformat(),
                now=now,
            )


def test_asking_for_erasure_twice_asks_once(broker, demo):
    now = datetime.now(UTC)
    with broker.db.sessions() as session, broker.db.writing(session):
        who = citizen(broker, session)
        consent = granted(broker, session, demo, who, now)
        first = citizen_actions.ask_erasure(
            session, citizen_id=who.id, consent_id=consent.id, now=now
        )
        again = citizen_actions.ask_erasure(
            session, citizen_id=who.id, consent_id=consent.id, now=now
        )
        assert first.id == again.id
