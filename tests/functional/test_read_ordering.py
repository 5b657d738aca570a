"""The ledger's order is provable: no ``data:read`` follows, by index, the end of its consent.

A source may take seconds to answer. A withdrawal (or pause, or a narrowing) that lands while
it does must not be followed in the ledger by the read it overtook, handing data over after the
citizen said stop: the read decides again, under the consent's row lock, in the transaction that
appends its entry (consent.access_ports.ReadLedger.append_read).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from broker import create_app
from connectors.base import Connector, Constraints, SubjectRef
from consent.models import LedgerEntry
from tests.flows import Flow, person_details, revoke_in_wallet

PERSON = "/api/v1/data/civil_registry/person"


class Meanwhile:
    """The civil registry, with something happening while it answers."""

    name = "civil_registry"

    def __init__(self, registry: Connector) -> None:
        self.registry = registry
        self.action: Callable[[], None] | None = None

    def describe(self) -> Any:
        return self.registry.describe()

    def fetch(self, subject: SubjectRef, resource: str, fields: Collection[str],
              constraints: Constraints | None = None) -> dict[str, Any]:
        if self.action is not None:
            self.action()
        return self.registry.fetch(subject, resource, fields, constraints)

    def health(self) -> Any:
        return self.registry.health()


@pytest.fixture
def meanwhile(settings: Any) -> Iterator[tuple[Flask, Meanwhile]]:
    application = create_app({"settings": settings, "TESTING": True})
    connectors = application.extensions["serdika"].connectors
    source = Meanwhile(connectors.get("civil_registry"))
    connectors.add("civil_registry", source)
    yield application, source
    application.extensions["serdika"].db.dispose()


def _consent_events(broker: Any, consent_id: str) -> list[tuple[int, str, dict[str, Any]]]:
    with broker.db.sessions() as session:
        rows = session.execute(select(LedgerEntry.index, LedgerEntry.event, LedgerEntry.entry)
                               .where(LedgerEntry.consent_id == consent_id)
                               .order_by(LedgerEntry.index)).all()
    return [(index, event, json.loads(entry)) for index, event, entry in rows]


def test_a_withdrawal_while_the_source_answers_stops_the_read(meanwhile, demo, broker):
    application, source = meanwhile
    client = application.test_client()
    tokens = Flow(client, demo["services"][0], demo["citizens"][0],
                  details=person_details(["given_name"])).tokens()
    source.action = lambda: revoke_in_wallet(client, tokens["consent_id"])

    response = client.get(PERSON, headers={"Authorization": f"Bearer {tokens['access_token']}"})

    assert response.status_code == 401
    assert "given_name" not in response.get_json().get("data", {})
    events = _consent_events(broker, tokens["consent_id"])
    assert [event for _, event, _ in events][-2:] == ["consent:revoked", "data:read_refused"]
    assert events[-1][2]["reason"] == "revoked"
    assert "data:read" not in [event for _, event, _ in events]


def test_a_pause_while_the_source_answers_stops_the_read(meanwhile, demo, broker):
    application, source = meanwhile
    client = application.test_client()
    tokens = Flow(client, demo["services"][0], demo["citizens"][0],
                  details=person_details(["given_name"])).tokens()

    def pause() -> None:
        page = client.get(f"/wallet/consents/{tokens['consent_id']}")
        token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
        assert client.post(f"/wallet/consents/{tokens['consent_id']}/pause",
                           data={"csrf_token": token}).status_code == 302

    source.action = pause
    response = client.get(PERSON, headers={"Authorization": f"Bearer {tokens['access_token']}"})

    assert response.status_code == 403
    events = [event for _, event, _ in _consent_events(broker, tokens["consent_id"])]
    assert events[-2:] == ["consent:paused", "data:read_refused"]
    assert "data:read" not in events


def test_reads_racing_a_withdrawal_are_all_recorded_before_it(app, demo, broker):
    """Readers on threads (their own connections) race one withdrawal: every read that was
    answered with data is in the ledger before the withdrawal, and none after it."""
    client = app.test_client()
    tokens = Flow(client, demo["services"][0], demo["citizens"][0],
                  details=person_details(["given_name"])).tokens()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    answered: list[int] = []
    started = threading.Barrier(4)

    def reader() -> None:
        own = app.test_client()
        started.wait()
        for _ in range(25):
            answered.append(own.get(PERSON, headers=headers).status_code)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    started.wait()
    revoke_in_wallet(client, tokens["consent_id"])
    for thread in threads:
        thread.join(timeout=120)

    events = _consent_events(broker, tokens["consent_id"])
    revoked_at = next(index for index, event, _ in events if event == "consent:revoked")
    reads = [index for index, event, _ in events if event == "data:read"]
    assert all(index < revoked_at for index in reads)
    assert answered.count(200) == len(reads)
    assert len(answered) == 75 and set(answered) <= {200, 401}


def test_an_erasure_waits_for_a_read_being_recorded_instead_of_deadlocking(app, demo, broker):
    """A read recording itself holds its consent's row, then takes the ledger's head; an
    erasure changes all the citizen's consents and appends. It must take the rows first too,
    or PostgreSQL finds a deadlock and aborts one of them."""
    from broker.prepared import append_read
    from consent.account_erasure import erase_subject
    from consent.decisions import Decision, Reason
    from consent.models import Subject
    from consent.types import utcnow
    from tests.flows import create_citizen

    client = app.test_client()
    citizen = create_citizen(broker)
    ended = Flow(client, demo["services"][0], citizen,
                 details=person_details(["given_name"])).tokens()
    revoke_in_wallet(client, ended["consent_id"])
    Flow(client, demo["services"][0], citizen, details=person_details(["family_name"])).tokens()

    erased: list[int] = []

    def erase() -> None:
        with broker.db.sessions() as session, broker.db.writing(session):
            erased.append(erase_subject(session, broker.domain,
                                        session.get(Subject, citizen["id"]), now=utcnow()))

    eraser = threading.Thread(target=erase)

    def while_locked(state: Any) -> Decision:
        # The read holds the consent's row now: the erasure starts and must wait for it.
        eraser.start()
        eraser.join(timeout=1.5)
        return Decision(True, Reason.GRANTED, state)

    decision = append_read(broker.db, ended["consent_id"], while_locked, at=utcnow(),
                           service=demo["services"][0]["client_id"],
                           details={"subject": "p", "purpose": "kindergarten_enrolment",
                                    "connector": "civil_registry", "resource": "person",
                                    "fields": ["given_name"]})
    eraser.join(timeout=30)
    assert decision.allowed
    assert erased == [1]
    events = [event for _, event, _ in _consent_events(broker, ended["consent_id"])]
    assert events[-1] == "data:read"
