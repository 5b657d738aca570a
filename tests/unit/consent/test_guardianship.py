"""Parents acting for minor children: coming of age, the wards' subjects, the hand-over."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from commons import egn
from connectors.civil_registry import is_minor
from consent.accounts import (
    NO_PASSWORD,
    AccountError,
    authenticate,
    create_subject,
    national_id,
)
from consent.crypto import ledger_pseudonym
from consent.guardianship import RegistryChild, hand_over_due, sync_wards
from consent.ledger.entries import ledger_size
from consent.lifecycle import record_decision, subject_key
from consent.models import Consent, Guardianship, LedgerEntry, Service, Subject
from consent.requests import AccessRequest, ScopeItem
from consent.types import utcnow
from consent.wards import CITY_TIMEZONE, coming_of_age_at, may_act_for, wards_of

PASSWORD = "a long enough password"
REQUEST = AccessRequest("kindergarten_enrolment", "P90D", (
    ScopeItem("civil_registry", "person", ("given_name", "family_name")),))


# -- coming of age -------------------------------------------------------------------------------

@pytest.mark.parametrize(("born", "of_age"), [
    (date(2008, 5, 10), date(2026, 5, 10)),
    (date(2021, 6, 21), date(2039, 6, 21)),
    # Born on 29 February: of age on 28 February of a common year, 29th of a leap year.
    (date(2008, 2, 29), date(2026, 2, 28)),
    (date(2010, 2, 28), date(2028, 2, 28)),
    (date(2012, 2, 29), date(2030, 2, 28)),
    (date(2014, 2, 28), date(2032, 2, 28)),
    (date(2016, 2, 29), date(2034, 2, 28)),
    (date(2004, 2, 29), date(2022, 2, 28)),
])
def test_coming_of_age(born: date, of_age: date) -> None:
    assert egn.coming_of_age(born) == of_age
    # The registry's rule is the same function.
    assert is_minor(born, of_age - timedelta(days=1))
    assert not is_minor(born, of_age)


def test_a_child_born_on_29_february_comes_of_age_on_29_february_in_a_leap_year() -> None:
    assert egn.coming_of_age(date(2006, 2, 28)) == date(2024, 2, 28)
    assert egn.coming_of_age(date(2006, 3, 1)) == date(2024, 3, 1)
    assert egn.coming_of_age(date(1990, 2, 28)) == date(2008, 2, 28)


def test_control_ends_at_midnight_in_sofia() -> None:
    # Summer time in Sofia is UTC+3, winter time UTC+2.
    assert coming_of_age_at(date(2008, 5, 10)) == datetime(2026, 5, 9, 21, 0, tzinfo=UTC)
    assert coming_of_age_at(date(2008, 1, 10)) == datetime(2026, 1, 9, 22, 0, tzinfo=UTC)
    assert coming_of_age_at(date(2008, 2, 29)) == datetime(2026, 2, 27, 22, 0, tzinfo=UTC)


# -- helpers -------------------------------------------------------------------------------------

def _adult(broker: Any, session: Any) -> Subject:
    born = date(1970, 1, 1) + timedelta(days=secrets.randbelow(12000))
    return create_subject(session, broker.keys.keyring, username="gp_" + secrets.token_hex(6),
                          password=PASSWORD, national_id=egn.make(born, secrets.randbelow(1000)))


def _child(born: date, name: str = "Никола") -> RegistryChild:
    return RegistryChild(national_id=egn.make(born, secrets.randbelow(1000)), given_name=name,
                         family_name="Петров", birth_date=born)


def _years_ago(years: int, days: int = 0) -> date:
    """The birth date of one who turns ``years`` in ``days`` days, on Sofia's calendar."""
    today = datetime.now(CITY_TIMEZONE).date()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:
        then = today.replace(year=today.year - years, day=28)
    return then + timedelta(days=days)


def _entries(session: Any, event: str, after: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(LedgerEntry.entry).where(
        LedgerEntry.event == event, LedgerEntry.index >= after).order_by(LedgerEntry.index))
    return [json.loads(row) for row in rows]


def _ledger_end(session: Any) -> int:
    return ledger_size(session)


def _pseudonym(broker: Any, subject: Subject) -> str:
    return ledger_pseudonym(subject_key(broker.keys.keyring, subject))


# -- the wards' subjects and guardianships -------------------------------------------------------

def test_a_child_gets_a_subject_nobody_signs_in_as(broker: Any) -> None:
    keyring = broker.keys.keyring
    now = utcnow()
    child = _child(date(2021, 6, 21))
    with broker.db.sessions() as session, broker.db.writing(session):
        parent = _adult(broker, session)
        listed = sync_wards(session, keyring, parent, [child], now=now)
        (ward_id,) = listed
        ward = session.get(Subject, ward_id)
        assert ward.username.startswith("ward-")
        assert ward.password_hash == NO_PASSWORD
        assert national_id(keyring, ward) == child.national_id
        assert ward.national_id_index == keyring.blind_index(child.national_id)
        assert authenticate(session, ward.username, NO_PASSWORD) is None

        (row,) = wards_of(session, parent, now)
        assert row.ward_subject_id == ward_id
        assert row.ends_at == coming_of_age_at(child.birth_date)
        assert row.ended_at is None

        # Again: nothing new. The other parent shares the child's subject.
        assert sync_wards(session, keyring, parent, [child], now=now) == listed
        other = _adult(broker, session)
        assert set(sync_wards(session, keyring, other, [child], now=now)) == {ward_id}
        assert len(session.scalars(select(Guardianship).where(
            Guardianship.ward_subject_id == ward_id)).all()) == 2


def test_an_adult_child_is_not_a_ward(broker: Any) -> None:
    with broker.db.sessions() as session, broker.db.writing(session):
        parent = _adult(broker, session)
        grown = _child(_years_ago(18))
        assert sync_wards(session, broker.keys.keyring, parent, [grown], now=utcnow()) == {}


def test_a_child_the_registry_no_longer_lists_ends_with_a_ledger_entry(broker: Any) -> None:
    keyring = broker.keys.keyring
    now = utcnow()
    with broker.db.sessions() as session, broker.db.writing(session):
        parent = _adult(broker, session)
        kept, gone = _child(date(2019, 1, 5), "Рая"), _child(date(2016, 9, 1), "Боян")
        listed = sync_wards(session, keyring, parent, [kept, gone], now=now)
        gone_id = next(i for i, c in listed.items() if c is gone)
        start = _ledger_end(session)
        sync_wards(session, keyring, parent, [kept], now=now)
        assert [row.ward_subject_id for row in wards_of(session, parent, now)] == [
            next(i for i, c in listed.items() if c is kept)]
        assert not may_act_for(session, parent.id, gone_id, now)
        (entry,) = _entries(session, "guardianship:ended", start)
        assert entry["reason"] == "registry"
        # Listed again (the registry corrected itself): in force again.
        sync_wards(session, keyring, parent, [kept, gone], now=now)
        assert may_act_for(session, parent.id, gone_id, now)


def test_control_ends_at_the_birthday_before_any_job_runs(broker: Any) -> None:
    now = utcnow()
    with broker.db.sessions() as session, broker.db.writing(session):
        parent, stranger = _adult(broker, session), _adult(broker, session)
        child = _child(_years_ago(18, days=1))  # 18 tomorrow
        (ward_id,) = sync_wards(session, broker.keys.keyring, parent, [child], now=now)
        ends_at = coming_of_age_at(child.birth_date)
        assert may_act_for(session, parent.id, ward_id, ends_at - timedelta(microseconds=1))
        assert not may_act_for(session, parent.id, ward_id, ends_at)
        assert not may_act_for(session, stranger.id, ward_id, now)
        assert not may_act_for(session, ward_id, parent.id, now)
        assert wards_of(session, parent, ends_at) == []


# -- the hand-over -------------------------------------------------------------------------------

def _due_guardianship(broker: Any, session: Any) -> tuple[Subject, Subject, Guardianship]:
    """A parent and a child whose 18th birthday has just passed, not yet handed over."""
    parent = _adult(broker, session)
    child = _child(_years_ago(18, days=2))
    (ward_id,) = sync_wards(session, broker.keys.keyring, parent, [child], now=utcnow())
    session.execute(update(Guardianship).where(Guardianship.ward_subject_id == ward_id)
                    .values(ends_at=utcnow() - timedelta(seconds=1)))
    row = session.get(Guardianship, (parent.id, ward_id))
    session.refresh(row)
    return parent, session.get(Subject, ward_id), row


def test_the_hand_over_ends_due_guardianships_once(broker: Any) -> None:
    told: list[tuple[int, int]] = []

    def notify(session: Any, *, guardian_id: int, ward_id: int, now: datetime) -> None:
        told.append((guardian_id, ward_id))

    with broker.db.sessions() as session, broker.db.writing(session):
        parent, ward, row = _due_guardianship(broker, session)
        start = _ledger_end(session)
        now = utcnow()
        assert hand_over_due(session, broker.keys.keyring, now=now, notify=notify) >= 1
        session.refresh(row)
        assert row.ended_at == now
        assert (parent.id, ward.id) in told
        entries = [e for e in _entries(session, "guardianship:ended", start)
                   if e["ward"] == _pseudonym(broker, ward)]
        assert len(entries) == 1
        entry = entries[0]
        assert entry["guardian"] == _pseudonym(broker, parent)
        assert entry["reason"] == "coming_of_age"
        # Names subjects by pseudonym only: no national id, username or row id.
        text = json.dumps(entry, ensure_ascii=False)
        assert national_id(broker.keys.keyring, ward) not in text
        assert ward.username not in text and parent.username not in text

        told.clear()
        assert hand_over_due(session, broker.keys.keyring, now=utcnow(), notify=notify) == 0
        assert told == []
        assert [e for e in _entries(session, "guardianship:ended", start)
                if e["ward"] == _pseudonym(broker, ward)] == [entry]


def test_the_hand_over_works_with_the_default_notifier(broker: Any) -> None:
    with broker.db.sessions() as session, broker.db.writing(session):
        _parent, ward, row = _due_guardianship(broker, session)
        assert hand_over_due(session, broker.keys.keyring, now=utcnow()) >= 1
        session.refresh(row)
        assert row.ended_at is not None
        assert not may_act_for(session, row.guardian_subject_id, ward.id, utcnow())


# -- claiming the wallet -------------------------------------------------------------------------

def test_a_minor_cannot_claim_the_wallet(broker: Any) -> None:
    with broker.db.sessions() as session, broker.db.writing(session):
        parent = _adult(broker, session)
        child = _child(date(2015, 4, 1))
        sync_wards(session, broker.keys.keyring, parent, [child], now=utcnow())
        with pytest.raises(AccountError, match="minor"):
            create_subject(session, broker.keys.keyring, username="teen_" + secrets.token_hex(4),
                           password=PASSWORD, national_id=child.national_id)


def test_the_adult_child_claims_the_wallet_with_the_consents(broker: Any,
                                                             demo: dict[str, Any]) -> None:
    keyring = broker.keys.keyring
    with broker.db.sessions() as session, broker.db.writing(session):
        parent, ward, _row = _due_guardianship(broker, session)
        service = session.scalar(select(Service).where(
            Service.client_id == demo["services"][0]["client_id"]))
        consent = record_decision(session, broker.domain, subject=ward, service=service,
                                  request=REQUEST, allow=True, now=utcnow())
        consent.decided_by_subject_id = parent.id
        number = national_id(keyring, ward)
        assert number is not None
        hand_over_due(session, keyring, now=utcnow())

        username = "adult_" + secrets.token_hex(4)
        claimed = create_subject(session, keyring, username=username, password=PASSWORD,
                                 national_id=number, locale="en")
        assert claimed.id == ward.id
        assert claimed.locale == "en"
        assert authenticate(session, username, PASSWORD) is not None
        mine = session.scalars(select(Consent.id).where(Consent.subject_id == claimed.id)).all()
        assert consent.id in mine
        assert national_id(keyring, claimed) == number

        # Claimed once: a second account for the same person is refused.
        with pytest.raises(AccountError, match="exists already"):
            create_subject(session, keyring, username="again_" + secrets.token_hex(4),
                           password=PASSWORD, national_id=number)


def test_a_citizens_own_wallet_is_never_claimed(broker: Any) -> None:
    keyring = broker.keys.keyring
    with broker.db.sessions() as session, broker.db.writing(session):
        citizen = _adult(broker, session)
        number = national_id(keyring, citizen)
        assert number is not None
        with pytest.raises(AccountError, match="exists already"):
            create_subject(session, keyring, username="dup_" + secrets.token_hex(4),
                           password=PASSWORD, national_id=number)
