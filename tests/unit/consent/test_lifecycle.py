"""The consent state machine: the transition table, decisions, receipts, expiry."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta
from itertools import product
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from commons import egn
from consent.accounts import create_subject, national_id
from consent.ledger.entries import ledger_size
from consent.lifecycle import (
    TRANSITIONS,
    InvalidTransition,
    expire_due_consents,
    new_consent_id,
    record_decision,
    revoke_consent,
    transition,
)
from consent.models import Consent, ConsentStatus, LedgerEntry, Receipt, Service
from consent.receipts import RECEIPT_TYPE
from consent.requests import AccessRequest, ScopeItem

S = ConsentStatus
ALLOWED = {
    (S.REQUESTED, S.ACTIVE),
    (S.REQUESTED, S.DENIED),
    (S.ACTIVE, S.REVOKED),
    (S.ACTIVE, S.EXPIRED),
    (S.ACTIVE, S.PAUSED),
    (S.PAUSED, S.ACTIVE),
    (S.PAUSED, S.REVOKED),
    (S.PAUSED, S.EXPIRED),
}
REQUEST = AccessRequest(
    "kindergarten_enrolment",
    "P90D",
    (ScopeItem("civil_registry", "person", ("given_name", "family_name", "birth_date")),),
)


def _subject(broker: Any, session: Any) -> Any:
    born = date(1970, 1, 1) + timedelta(days=secrets.randbelow(15000))
    return create_subject(
        session,
        broker.keys.keyring,
        username="lc_" + secrets.token_hex(6),
        password="a long enough password",
        national_id=egn.make(born, secrets.randbelow(1000)),
    )


def _service(session: Any, demo: dict[str, Any]) -> Service:
    client_id = demo["services"][0]["client_id"]
    return session.scalar(select(Service).where(Service.client_id == client_id))


def _consent_in(broker: Any, session: Any, demo: dict[str, Any], status: S) -> Consent:
    """A consent row put straight into ``status`` (as if it had got there)."""
    subject = _subject(broker, session)
    now = datetime.now(UTC)
    consent = Consent(
        id=new_consent_id(),
        subject_id=subject.id,
        service_id=_service(session, demo).id,
        purpose_code=REQUEST.purpose,
        scope=[item.as_dict() for item in REQUEST.items],
        duration=REQUEST.duration,
        status=status,
        subject_pairwise="sub_test",
        subject_pseudonym="00" * 32,
        requested_at=now,
        expires_at=now + timedelta(days=90),
    )
    session.add(consent)
    session.flush()
    return consent


def _rows(session: Any, consent_id: str) -> list[dict[str, Any]]:
    entries = session.scalars(
        select(LedgerEntry.entry)
        .where(LedgerEntry.consent_id == consent_id)
        .order_by(LedgerEntry.index)
    ).all()
    return [json.loads(entry) for entry in entries]


def test_the_table_is_exactly_the_diagram():
    assert set(TRANSITIONS) == ALLOWED


def test_every_pair_of_states(broker, demo):
    with broker.db.sessions() as session, broker.db.writing(session):
        for current, wanted in product(S, S):
            consent = _consent_in(broker, session, demo, current)
            size = ledger_size(session)
            if (current, wanted) in ALLOWED:
                index = transition(session, consent, wanted, at=datetime.now(UTC))
                assert index == size
                session.expire_all()
                assert session.get(Consent, consent.id).status == wanted
                assert [row["event"] for row in _rows(session, consent.id)] == [
                    str(TRANSITIONS[(current, wanted)])
                ]
            else:
                with pytest.raises(InvalidTransition):
                    transition(session, consent, wanted, at=datetime.now(UTC))
                session.expire_all()
                assert session.get(Consent, consent.id).status == current
                assert ledger_size(session) == size
                assert _rows(session, consent.id) == []


def test_transition_refuses_a_stale_state(broker, demo):
    """Two racers read `active`; only the first can revoke, the second raises."""
    with broker.db.sessions() as session, broker.db.writing(session):
        consent = _consent_in(broker, session, demo, S.ACTIVE)
        consent_id = consent.id
    with broker.db.sessions() as first, broker.db.sessions() as second:
        mine, theirs = first.get(Consent, consent_id), second.get(Consent, consent_id)
        with broker.db.writing(first):
            transition(first, mine, S.REVOKED, at=datetime.now(UTC))
        with pytest.raises(InvalidTransition), broker.db.writing(second):
            transition(second, theirs, S.EXPIRED, at=datetime.now(UTC))
        second.expire_all()
        assert second.get(Consent, consent_id).status == S.REVOKED


def test_record_decision_allow_writes_events_and_a_verifiable_receipt(broker, demo):
    now = datetime.now(UTC).replace(microsecond=0)
    with broker.db.sessions() as session, broker.db.writing(session):
        subject = _subject(broker, session)
        service = _service(session, demo)
        consent = record_decision(
            session,
            broker.domain,
            subject=subject,
            service=service,
            request=REQUEST,
            allow=True,
            now=now,
        )
        nid = national_id(broker.keys.keyring, subject)
    with broker.db.sessions() as session:
        stored = session.get(Consent, consent.id)
        assert stored.status == S.ACTIVE
        assert stored.decided_at == now and stored.expires_at == now + timedelta(days=90)
        rows = _rows(session, consent.id)
        assert [row["event"] for row in rows] == ["consent:requested", "consent:granted"]
        assert rows[1]["index"] == rows[0]["index"] + 1
        assert all(row["subject"] == stored.subject_pseudonym for row in rows)
        receipt = session.scalar(select(Receipt).where(Receipt.consent_id == consent.id))
    assert receipt.kind == "grant" and receipt.ledger_index == rows[1]["index"]

    header = jwt.get_unverified_header(receipt.jws)
    assert header["alg"] == "EdDSA" and header["typ"] == RECEIPT_TYPE
    assert header["kid"] == broker.keys.key_id
    claims = jwt.decode(receipt.jws, broker.keys.signing_key.public_key(), algorithms=["EdDSA"])
    assert claims["consent_id"] == consent.id
    assert claims["piiPrincipalId"] == consent.subject_pairwise
    purposes = claims["services"][0]["purposes"][0]
    assert purposes["purpose"] == "kindergarten_enrolment"
    assert purposes["piiCategory"] == [
        "civil_registry.person.given_name",
        "civil_registry.person.family_name",
        "civil_registry.person.birth_date",
    ]
    # Names of fields only: no identifier, no username, no value of the citizen's data.
    text = json.dumps(claims, ensure_ascii=False)
    for value in (nid, subject.username, subject.password_hash):
        assert value not in text
    with pytest.raises(jwt.InvalidSignatureError):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        jwt.decode(receipt.jws, Ed25519PrivateKey.generate().public_key(), algorithms=["EdDSA"])


def test_record_decision_deny(broker, demo):
    with broker.db.sessions() as session, broker.db.writing(session):
        consent = record_decision(
            session,
            broker.domain,
            subject=_subject(broker, session),
            service=_service(session, demo),
            request=REQUEST,
            allow=False,
            now=datetime.now(UTC),
        )
    with broker.db.sessions() as session:
        stored = session.get(Consent, consent.id)
        assert stored.status == S.DENIED and stored.expires_at is None
        assert [row["event"] for row in _rows(session, consent.id)] == [
            "consent:requested",
            "consent:denied",
        ]
        assert (
            session.scalar(
                select(func.count()).select_from(Receipt).where(Receipt.consent_id == consent.id)
            )
            == 0
        )


def test_revoke_twice_raises_and_changes_nothing(broker, demo):
    with broker.db.sessions() as session, broker.db.writing(session):
        consent = record_decision(
            session,
            broker.domain,
            subject=_subject(broker, session),
            service=_service(session, demo),
            request=REQUEST,
            allow=True,
            now=datetime.now(UTC),
        )
    with broker.db.sessions() as session, broker.db.writing(session):
        revoke_consent(session, broker.domain, session.merge(consent), now=datetime.now(UTC))
    with broker.db.sessions() as session:
        size = ledger_size(session)
        before = session.get(Consent, consent.id)
        revoked_at = before.revoked_at
        assert before.status == S.REVOKED and revoked_at is not None
        with pytest.raises(InvalidTransition), broker.db.writing(session):
            revoke_consent(session, broker.domain, before, now=datetime.now(UTC))
        session.expire_all()
        after = session.get(Consent, consent.id)
        assert after.status == S.REVOKED and after.revoked_at == revoked_at
        assert ledger_size(session) == size
        assert [row["event"] for row in _rows(session, consent.id)] == [
            "consent:requested",
            "consent:granted",
            "consent:revoked",
        ]
        kinds = session.scalars(select(Receipt.kind).where(Receipt.consent_id == consent.id)).all()
        assert sorted(kinds) == ["grant", "revocation"]


def test_expire_due_consents(broker, demo):
    now = datetime.now(UTC)
    past = now - timedelta(days=100)
    with broker.db.sessions() as session, broker.db.writing(session):
        service = _service(session, demo)

        def grant(at: datetime) -> Consent:
            return record_decision(
                session,
                broker.domain,
                subject=_subject(broker, session),
                service=service,
                request=REQUEST,
                allow=True,
                now=at,
            )

        due = [grant(past), grant(past + timedelta(days=1))]
        current = grant(now)
        revoked = grant(past)
        revoke_consent(session, broker.domain, revoked, now=past + timedelta(days=1))
    with broker.db.sessions() as session, broker.db.writing(session):
        count = expire_due_consents(session, now=now, batch=1)
        assert count >= len(due)
    with broker.db.sessions() as session:
        for consent in due:
            assert session.get(Consent, consent.id).status == S.EXPIRED
            rows = _rows(session, consent.id)
            assert rows[-1]["event"] == "consent:expired"
            assert rows[-1]["time"].startswith(consent.expires_at.date().isoformat())
        assert session.get(Consent, current.id).status == S.ACTIVE
        assert _rows(session, current.id)[-1]["event"] == "consent:granted"
        assert session.get(Consent, revoked.id).status == S.REVOKED
        assert _rows(session, revoked.id)[-1]["event"] == "consent:revoked"
    with broker.db.sessions() as session, broker.db.writing(session):
        assert expire_due_consents(session, now=now) == 0
