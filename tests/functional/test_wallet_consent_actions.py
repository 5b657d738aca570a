"""The consent page's own reads, and pausing and resuming a consent, through the test client."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from consent.ledger.entries import LedgerEvent, append_entry
from consent.lifecycle import (
    InvalidTransition,
    expire_due_consents,
    pause_consent,
    record_decision,
    resume_consent,
)
from consent.models import Consent, ConsentStatus, LedgerEntry, Service, Subject
from consent.requests import AccessRequest, ScopeItem
from consent.types import utcnow
from tests.flows import Flow, basic, create_citizen, csrf_token, revoke_in_wallet

PERSON = "/api/v1/data/civil_registry/person"
REQUEST = AccessRequest(
    "kindergarten_enrolment",
    "P90D",
    (ScopeItem("civil_registry", "person", ("given_name", "family_name")),),
)


@pytest.fixture
def citizen(broker: Any, demo: Any) -> dict[str, Any]:
    return create_citizen(broker, "p_")


@pytest.fixture
def en_client(client: Any) -> Any:
    """A client from its own address (per-address limits stay per test), reading English."""
    client.environ_base["REMOTE_ADDR"] = (
        f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    )
    client.set_cookie("serdika_lang", "en")
    return client


def grant(broker: Any, citizen: dict[str, Any]) -> str:
    with broker.db.sessions() as session, broker.db.writing(session):
        consent = record_decision(
            session,
            broker.domain,
            subject=session.get(Subject, citizen["id"]),
            service=session.scalar(select(Service).where(Service.client_id == "kindergartens")),
            request=REQUEST,
            allow=True,
            now=datetime.now(UTC),
        )
    return consent.id


def sign_in(client: Any, citizen: dict[str, Any]) -> None:
    Flow(client, {}, citizen).sign_in()


def status_of(broker: Any, consent_id: str) -> str:
    with broker.db.sessions() as session:
        return session.get(Consent, consent_id).status


def events_of(broker: Any, consent_id: str) -> list[str]:
    with broker.db.sessions() as session:
        return list(
            session.scalars(
                select(LedgerEntry.event)
                .where(LedgerEntry.consent_id == consent_id)
                .order_by(LedgerEntry.index)
            )
        )


def act(client: Any, consent_id: str, action: str) -> Any:
    """Press the consent page's ``action`` button (pause, resume, revoke)."""
    page = client.get(f"/wallet/consents/{consent_id}")
    assert page.status_code == 200
    return client.post(
        f"/wallet/consents/{consent_id}/{action}",
        data={"csrf_token": csrf_token(page.get_data(as_text=True))},
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _introspect(client: Any, service: dict[str, Any], token: str) -> dict[str, Any]:
    response = client.post(
        "/oauth2/introspect",
        data={"token": token},
        headers=basic(service["client_id"], service["client_secret"]),
    )
    assert response.status_code == 200
    return response.get_json()


def _refresh(client: Any, service: dict[str, Any], token: str) -> Any:
    return client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers=basic(service["client_id"], service["client_secret"]),
    )


# --- this consent's reads -------------------------------------------------------------------


def test_consent_page_lists_the_latest_reads_of_this_consent_only(en_client, broker, citizen):
    mine, other = grant(broker, citizen), grant(broker, citizen)
    start = utcnow()
    with broker.db.sessions() as session, broker.db.writing(session):
        for number in range(23):
            refused = number == 22
            append_entry(
                session,
                LedgerEvent.DATA_READ_REFUSED if refused else LedgerEvent.DATA_READ,
                at=start + timedelta(seconds=number),
                consent_id=mine,
                service="kindergartens",
                details={
                    "subject": "x",
                    "purpose": "kindergarten_enrolment",
                    "connector": "civil_registry",
                    "resource": "person",
                    "fields": ["given_name"] if number else ["family_name"],
                    **({"reason": "field_not_granted"} if refused else {}),
                },
            )
        append_entry(
            session,
            LedgerEvent.DATA_READ,
            at=start,
            consent_id=other,
            service="kindergartens",
            details={
                "subject": "x",
                "connector": "civil_registry",
                "resource": "person",
                "fields": ["birth_date"],
            },
        )
    sign_in(en_client, citizen)
    html = en_client.get(f"/wallet/consents/{mine}").get_data(as_text=True)
    section = html.split('id="reads-title"')[1].split("</section>")[0]
    rows = section.split("<tbody>")[1].split("<tr>")[1:]
    assert len(rows) == 20
    assert "Refused" in rows[0] and "does not cover" in rows[0]  # the newest first
    assert all("Given to the service" in row for row in rows[1:])
    fields = broker.connectors.catalogue["civil_registry"].resources["person"].fields
    assert fields["family_name"].label("en") not in section  # the oldest is beyond the 20
    assert fields["birth_date"].label("en") not in section  # the other consent's read
    assert "Only the latest 20 reads are shown here." in section
    assert 'href="/wallet/history?service=kindergartens"' in section

    quiet = en_client.get(f"/wallet/consents/{other}").get_data(as_text=True)
    quiet_section = quiet.split('id="reads-title"')[1].split("</section>")[0]
    assert quiet_section.count("<tr>") == 2  # the header and its one read
    assert "Only the latest" not in quiet_section


def test_consent_page_without_reads_says_so(en_client, broker, citizen):
    consent_id = grant(broker, citizen)
    sign_in(en_client, citizen)
    html = en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    assert "The service has not read your data under this consent." in html


# --- pause and resume -----------------------------------------------------------------------


def test_pause_and_resume_in_the_wallet(en_client, broker, citizen):
    consent_id = grant(broker, citizen)
    sign_in(en_client, citizen)
    page = en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    assert f'action="/wallet/consents/{consent_id}/pause"' in page
    assert f'action="/wallet/consents/{consent_id}/resume"' not in page

    paused = act(en_client, consent_id, "pause")
    assert paused.status_code == 302
    assert paused.headers["Location"] == f"/wallet/consents/{consent_id}"
    assert status_of(broker, consent_id) == ConsentStatus.PAUSED
    page = en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    assert "Paused by you" in page
    assert f'action="/wallet/consents/{consent_id}/resume"' in page
    assert f'action="/wallet/consents/{consent_id}/pause"' not in page
    assert f'action="/wallet/consents/{consent_id}/revoke"' in page
    home = en_client.get("/wallet/").get_data(as_text=True)
    active_part = home.split('id="history-title"')[0]
    assert f"/wallet/consents/{consent_id}" in active_part and "Paused by you" in active_part

    assert act(en_client, consent_id, "resume").status_code == 302
    assert status_of(broker, consent_id) == ConsentStatus.ACTIVE
    assert events_of(broker, consent_id)[-2:] == ["consent:paused", "consent:resumed"]
    with broker.db.sessions() as session:
        consent = session.get(Consent, consent_id)
        assert consent.decided_at is not None and consent.decided_at < utcnow()


def test_double_pause_or_resume_changes_nothing(en_client, broker, citizen):
    consent_id = grant(broker, citizen)
    sign_in(en_client, citizen)
    page = en_client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    token = csrf_token(page)
    for _ in range(2):
        response = en_client.post(
            f"/wallet/consents/{consent_id}/pause", data={"csrf_token": token}
        )
        assert response.status_code == 302
    assert events_of(broker, consent_id).count("consent:paused") == 1
    for _ in range(2):
        en_client.post(f"/wallet/consents/{consent_id}/resume", data={"csrf_token": token})
    assert events_of(broker, consent_id).count("consent:resumed") == 1
    assert status_of(broker, consent_id) == ConsentStatus.ACTIVE


def test_pause_and_resume_need_the_csrf_token(en_client, broker, citizen):
    consent_id = grant(broker, citizen)
    sign_in(en_client, citizen)
    en_client.get(f"/wallet/consents/{consent_id}")
    for action in ("pause", "resume"):
        response = en_client.post(
            f"/wallet/consents/{consent_id}/{action}", data={"csrf_token": "forged"}
        )
        assert response.status_code == 400
    assert status_of(broker, consent_id) == ConsentStatus.ACTIVE


def test_pause_needs_sign_in(client, broker, citizen):
    consent_id = grant(broker, citizen)
    page = client.get("/wallet/sign-in")
    response = client.post(
        f"/wallet/consents/{consent_id}/pause",
        data={"csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert response.status_code == 302 and "/wallet/sign-in" in response.headers["Location"]
    assert status_of(broker, consent_id) == ConsentStatus.ACTIVE


def test_another_citizens_consent_cannot_be_paused_resumed_or_shown_withdrawn(
    en_client, broker, citizen, demo
):
    theirs = grant(broker, citizen)
    paused_theirs = grant(broker, citizen)
    with broker.db.sessions() as session, broker.db.writing(session):
        pause_consent(session, session.get(Consent, paused_theirs), now=utcnow())
    sign_in(en_client, create_citizen(broker, "q_"))
    token = csrf_token(en_client.get("/wallet/").get_data(as_text=True))
    for consent_id, action in ((theirs, "pause"), (paused_theirs, "resume")):
        response = en_client.post(
            f"/wallet/consents/{consent_id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 404
        assert "Kindergarten" not in response.get_data(as_text=True)
    assert en_client.get(f"/wallet/consents/{theirs}/withdrawn").status_code == 404
    assert status_of(broker, theirs) == ConsentStatus.ACTIVE
    assert status_of(broker, paused_theirs) == ConsentStatus.PAUSED


def test_paused_consent_refuses_reads_introspection_and_refresh_until_resumed(client, demo, broker):
    client.set_cookie("serdika_lang", "en")
    flow = Flow(client, demo["services"][0], demo["citizens"][1])
    tokens = flow.tokens()
    consent_id = tokens["consent_id"]
    headers = _bearer(tokens["access_token"])
    assert client.get(PERSON, headers=headers).status_code == 200

    act(client, consent_id, "pause")
    read = client.get(PERSON, headers=headers)
    assert read.status_code == 403
    assert "The citizen has paused this consent." in read.get_data(as_text=True)
    assert _introspect(client, flow.service, tokens["access_token"]) == {"active": False}
    assert _introspect(client, flow.service, tokens["refresh_token"]) == {"active": False}
    refused = _refresh(client, flow.service, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    with broker.db.sessions() as session:
        reason = session.scalars(
            select(LedgerEntry.entry)
            .where(LedgerEntry.consent_id == consent_id, LedgerEntry.event == "data:read_refused")
            .order_by(LedgerEntry.index.desc())
        ).first()
    assert '"reason":"paused"' in reason
    history = client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    assert "You had paused the consent." in history

    act(client, consent_id, "resume")
    assert client.get(PERSON, headers=headers).status_code == 200
    assert _introspect(client, flow.service, tokens["access_token"])["active"] is True
    refreshed = _refresh(client, flow.service, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)


def test_paused_consent_can_be_withdrawn(client, demo, broker):
    flow = Flow(client, demo["services"][0], demo["citizens"][1])
    tokens = flow.tokens()
    act(client, tokens["consent_id"], "pause")
    revoke_in_wallet(client, tokens["consent_id"])
    assert status_of(broker, tokens["consent_id"]) == ConsentStatus.REVOKED
    read = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    assert read.status_code == 401


# --- the domain -----------------------------------------------------------------------------


def test_pause_and_resume_write_ledger_entries(broker, citizen):
    consent_id = grant(broker, citizen)
    with broker.db.sessions() as session, broker.db.writing(session):
        consent = session.get(Consent, consent_id)
        paused = pause_consent(session, consent, now=utcnow())
        with pytest.raises(InvalidTransition):
            pause_consent(session, consent, now=utcnow())
        resumed = resume_consent(session, consent, now=utcnow())
        with pytest.raises(InvalidTransition):
            resume_consent(session, consent, now=utcnow())
    with broker.db.sessions() as session:
        first, second = session.get(LedgerEntry, paused), session.get(LedgerEntry, resumed)
        assert (first.event, second.event) == ("consent:paused", "consent:resumed")
        assert first.consent_id == second.consent_id == consent_id
        assert '"by":"subject"' in first.entry


def test_a_paused_consent_past_its_end_expires(broker, citizen):
    consent_id = grant(broker, citizen)
    with broker.db.sessions() as session, broker.db.writing(session):
        pause_consent(session, session.get(Consent, consent_id), now=utcnow())
    with broker.db.sessions() as session:
        session.execute(
            update(Consent)
            .where(Consent.id == consent_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
        consent = session.get(Consent, consent_id)
        with pytest.raises(InvalidTransition):
            resume_consent(session, consent, now=utcnow())
        session.rollback()
        assert expire_due_consents(session, now=utcnow()) >= 1
    assert status_of(broker, consent_id) == ConsentStatus.EXPIRED
    assert events_of(broker, consent_id)[-1] == "consent:expired"
