"""The access history query: a subject's reads only, newest first, filtered, keyset pages."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from commons import egn
from consent.accounts import create_subject
from consent.history import ReadFilter, history_page, iter_history, services_used
from consent.ledger.entries import LedgerEvent, append_entry
from consent.lifecycle import record_decision
from consent.models import Service, Subject
from consent.requests import AccessRequest, ScopeItem

REQUEST = AccessRequest("kindergarten_enrolment", "P90D", (
    ScopeItem("civil_registry", "person", ("given_name", "family_name")),))
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def _subject(broker: Any, session: Any) -> Subject:
    born = date(1970, 1, 1) + timedelta(days=secrets.randbelow(15000))
    return create_subject(session, broker.keys.keyring, username="hi_" + secrets.token_hex(6),
                          password="a long enough password",
                          national_id=egn.make(born, secrets.randbelow(1000)))


def _consent(broker: Any, session: Any, subject: Subject, client_id: str) -> str:
    service = session.scalar(select(Service).where(Service.client_id == client_id))
    return record_decision(session, broker.domain, subject=subject, service=service,
                           request=REQUEST, allow=True, now=T0).id


def _read(session: Any, consent_id: str, client_id: str, at: datetime, *,
          refused: str | None = None, fields: tuple[str, ...] = ("given_name",)) -> int:
    details: dict[str, Any] = {"subject": "ab" * 32, "purpose": REQUEST.purpose,
                               "connector": "civil_registry", "resource": "person",
                               "fields": list(fields)}
    if refused:
        details["reason"] = refused
    event = LedgerEvent.DATA_READ_REFUSED if refused else LedgerEvent.DATA_READ
    return append_entry(session, event, at=at, consent_id=consent_id, service=client_id,
                        details=details)


@pytest.fixture
def history(broker: Any, demo: dict[str, Any]) -> dict[str, Any]:
    """Two citizens; the first with reads by two services, the second with one read."""
    first, second = (service["client_id"] for service in demo["services"][:2])
    with broker.db.sessions() as session, broker.db.writing(session):
        me, someone = _subject(broker, session), _subject(broker, session)
        mine = _consent(broker, session, me, first)
        mine_too = _consent(broker, session, me, second)
        theirs = _consent(broker, session, someone, first)
        indexes = [
            _read(session, mine, first, T0 + timedelta(hours=1)),
            _read(session, theirs, first, T0 + timedelta(hours=2)),
            _read(session, mine, first, T0 + timedelta(days=1),
                  refused="field_not_granted", fields=("address",)),
            _read(session, mine_too, second, T0 + timedelta(days=2)),
            _read(session, mine, first, T0 + timedelta(days=3), refused="revoked"),
        ]
        return {"me": me.id, "someone": someone.id, "mine": mine, "mine_too": mine_too,
                "theirs": theirs, "indexes": indexes, "services": (first, second)}


def test_only_reads_of_the_subject_newest_first(broker, history):
    with broker.db.sessions() as session:
        page = history_page(session, history["me"])
    # The consent events that record_decision appended are not reads.
    assert [r.index for r in page.records] == [history["indexes"][i] for i in (4, 3, 2, 0)]
    assert page.older is None and page.newer is None
    revoked, other_service, refused, read = page.records
    assert (read.refused, read.reason, read.fields) == (False, None, ("given_name",))
    assert read.consent_id == history["mine"] and read.at == T0 + timedelta(hours=1)
    assert (read.connector, read.resource, read.purpose) == ("civil_registry", "person",
                                                             "kindergarten_enrolment")
    assert read.service == history["services"][0]
    assert read.service_name("bg") and read.service_name("en")
    assert read.purpose_name("en") == "Kindergarten enrolment"
    assert (refused.refused, refused.reason, refused.fields) == (True, "field_not_granted",
                                                                 ("address",))
    assert revoked.reason == "revoked"
    assert other_service.service == history["services"][1]
    with broker.db.sessions() as session:
        theirs = history_page(session, history["someone"]).records
    assert [r.consent_id for r in theirs] == [history["theirs"]]


def test_filters(broker, history):
    first, second = history["services"]
    indexes = history["indexes"]
    with broker.db.sessions() as session:
        def found(**where: Any) -> list[int]:
            return [r.index for r in history_page(session, history["me"],
                                                  ReadFilter(**where)).records]

        assert found(service=first) == [indexes[4], indexes[2], indexes[0]]
        assert found(service=second) == [indexes[3]]
        assert found(service="no-such-service") == []
        assert found(since=T0 + timedelta(days=1)) == [indexes[4], indexes[3], indexes[2]]
        assert found(until=T0 + timedelta(days=1)) == [indexes[0]]  # the end is excluded
        assert found(service=first, since=T0 + timedelta(hours=2),
                     until=T0 + timedelta(days=3)) == [indexes[2]]
        assert found(consent_id=history["mine"]) == [indexes[4], indexes[2], indexes[0]]
        assert found(consent_id=history["mine_too"]) == [indexes[3]]
        assert found(consent_id=history["theirs"]) == []  # another citizen's consent
        assert found(consent_id=history["mine"], service=second) == []


def test_keyset_pages_and_chunks(broker, history):
    newest_first = [history["indexes"][i] for i in (4, 3, 2, 0)]
    with broker.db.sessions() as session:
        first = history_page(session, history["me"], limit=3)
        assert [r.index for r in first.records] == newest_first[:3]
        assert first.older == newest_first[2] and first.newer is None
        second = history_page(session, history["me"], before=first.older, limit=3)
        assert [r.index for r in second.records] == newest_first[3:]
        assert second.older is None and second.newer == newest_first[3]
        back = history_page(session, history["me"], after=second.newer, limit=3)
        assert [r.index for r in back.records] == newest_first[:3]
        assert back.newer is None and back.older == newest_first[2]
        partial = history_page(session, history["me"], after=second.newer, limit=2)
        assert [r.index for r in partial.records] == newest_first[1:3]
        assert partial.newer == newest_first[1] and partial.older == newest_first[2]
        for chunk in (1, 2, 3, 4, 50):
            assert [r.index for r in iter_history(session, history["me"], chunk=chunk)] \
                == newest_first
        assert list(iter_history(session, history["me"], ReadFilter(service="nobody"))) == []


def test_services_used(broker, history):
    with broker.db.sessions() as session:
        assert [s.client_id for s in services_used(session, history["me"])] == \
            sorted(history["services"])
        assert [s.client_id for s in services_used(session, history["someone"])] == \
            [history["services"][0]]
