"""Notifications: the four events, the wallet's list, and e-mail through a real SMTP server."""

from __future__ import annotations

import email
import json
import secrets
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from broker.config import SmtpSettings
from broker.mail import MAX_ATTEMPTS, SmtpSender, deliver_pending, run_once
from consent.models import Consent, EmailState, Notification, Subject
from consent.notifications import NotificationKind, notify, scan_expiring
from consent.types import utcnow
from tests.flows import Flow, create_citizen, csrf_token, person_details

PERSON = "/api/v1/data/civil_registry/person"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, SmtpSender]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield inbox, SmtpSender(SmtpSettings(host="127.0.0.1", port=controller.port,
                                             sender="Serdika <no-reply@sofia.example>"))
    finally:
        controller.stop()


@pytest.fixture
def citizen(broker: Any, demo: Any) -> dict[str, Any]:
    return create_citizen(broker, "n_")


@pytest.fixture
def flow(client: Any, demo: Any, citizen: dict[str, Any]) -> Flow:
    client.environ_base["REMOTE_ADDR"] = f"10.7.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    return Flow(client, demo["services"][0], citizen)


def _notices(broker: Any, subject_id: int, kind: str | None = None) -> list[Notification]:
    with broker.db.sessions() as session:
        query = select(Notification).where(Notification.subject_id == subject_id)
        if kind:
            query = query.where(Notification.kind == kind)
        rows = session.scalars(query.order_by(Notification.id)).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def _set_email(client: Any, address: str) -> Any:
    page = client.get("/wallet/account").get_data(as_text=True)
    return client.post("/wallet/account/email",
                       data={"csrf_token": csrf_token(page), "email": address})


def _deliver(app: Any, sender: Any) -> tuple[int, int]:
    broker = app.extensions["serdika"]
    with broker.db.sessions() as session:
        return deliver_pending(app, session, sender, now=utcnow())


# --- the four events ----------------------------------------------------------------------------

def test_a_page_sending_the_citizen_to_requests_again_and_again_makes_one_notice(
        flow, broker, client):
    flow.sign_in()
    for _ in range(5):  # a new state (a new request) every time, as a hostile page would send
        fresh = Flow(client, flow.service, flow.citizen)
        assert client.get(fresh.authorize_query()).status_code == 200
    assert len(_notices(broker, flow.citizen["id"], NotificationKind.REQUEST)) == 1


def test_a_request_is_noticed_once_however_often_the_page_is_shown(flow, broker, client):
    flow.sign_in()
    url = flow.authorize_query()
    for _ in range(3):
        assert client.get(url).status_code == 200
    [notice] = _notices(broker, flow.citizen["id"], NotificationKind.REQUEST)
    assert notice.details == {"service": flow.service["client_id"]}
    assert notice.email_state == EmailState.NONE  # no address given
    client.set_cookie("serdika_lang", "en")
    page = client.get("/wallet/notifications").get_data(as_text=True)
    assert "asked for your data" in page
    assert "You have 1 unread notification." in page
    assert "Notifications <span class=\"badge\">(1 unread)</span>" in page


def test_the_first_read_is_noticed_once(broker, app, client, demo):
    # A citizen the demo's civil registry knows, so that the read succeeds.
    citizen = dict(demo["citizens"][2])
    with broker.db.sessions() as session:
        citizen["id"] = session.scalar(select(Subject.id).where(
            Subject.username == citizen["username"]))
    flow = Flow(client, demo["services"][0], citizen)
    tokens = flow.tokens()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get(PERSON, headers=bearer).status_code == 200
    run_once(app)
    assert client.get(PERSON, headers=bearer).status_code == 200
    run_once(app)
    run_once(app)
    ours = [n for n in _notices(broker, citizen["id"], NotificationKind.FIRST_READ)
            if n.consent_id == tokens["consent_id"]]
    assert len(ours) == 1
    client.set_cookie("serdika_lang", "en")
    page = client.get("/wallet/notifications").get_data(as_text=True)
    assert "read your data for the first time" in page
    assert f"/wallet/consents/{tokens['consent_id']}" in page


def _other_asks(flow: Flow, demo: Any) -> list[Flow]:
    """Services asking the same citizen for other purposes: a consent each, all in force (the
    same service and purpose again would amend the one that stands, consent.amendment)."""
    return [Flow(flow.client, demo["services"][index], flow.citizen,
                 details=person_details(purpose=purpose))
            for index, purpose in ((1, "public_transport_card"), (2, "energy_poverty_support"))]


def test_a_consent_ending_within_seven_days_is_noticed(flow, broker, app, demo):
    soon = flow.tokens()["consent_id"]
    later = _other_asks(flow, demo)[0].tokens()["consent_id"]
    with broker.db.sessions() as session, broker.db.writing(session):
        session.execute(update(Consent).where(Consent.id == soon)
                        .values(expires_at=utcnow() + timedelta(days=3)))
        session.execute(update(Consent).where(Consent.id == later)
                        .values(expires_at=utcnow() + timedelta(days=8)))
    run_once(app)
    run_once(app)
    notices = _notices(broker, flow.citizen["id"], NotificationKind.EXPIRING)
    assert [notice.consent_id for notice in notices] == [soon]


def test_scanning_expiring_is_idempotent(broker, flow):
    consent_id = flow.tokens()["consent_id"]
    with broker.db.sessions() as session, broker.db.writing(session):
        session.execute(update(Consent).where(Consent.id == consent_id)
                        .values(expires_at=utcnow() + timedelta(hours=5)))
    with broker.db.sessions() as session, broker.db.writing(session):
        first = scan_expiring(session, now=utcnow())
        again = scan_expiring(session, now=utcnow())
    assert first >= 1 and again == 0


def test_the_list_is_mine_alone_and_can_be_marked_read(flow, broker, client):
    flow.sign_in()
    client.get(flow.authorize_query())
    other = create_citizen(broker, "o_")
    with broker.db.sessions() as session, broker.db.writing(session):
        notify(session, subject_id=other["id"], kind=NotificationKind.REQUEST,
               dedupe_key="request:other", details={"service": "energy-support"}, now=utcnow())
    client.set_cookie("serdika_lang", "en")
    page = client.get("/wallet/notifications").get_data(as_text=True)
    assert page.count("asked for your data") == 1
    response = client.post("/wallet/notifications/read",
                           data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    page = client.get("/wallet/notifications").get_data(as_text=True)
    assert "You have 0 unread notifications." in page
    assert all(notice.read_at for notice in _notices(broker, flow.citizen["id"]))
    assert [n.read_at for n in _notices(broker, other["id"])] == [None]


def test_signed_out_the_list_asks_to_sign_in(client):
    response = client.get("/wallet/notifications")
    assert response.status_code == 302 and "/wallet/sign-in" in response.headers["Location"]
    assert client.post("/wallet/notifications/read").status_code == 400  # no CSRF token


# --- e-mail -------------------------------------------------------------------------------------

def test_notices_are_emailed_in_the_citizens_language_without_data(flow, broker, app, client,
                                                                    smtp):
    inbox, sender = smtp
    flow.sign_in()
    assert _set_email(client, "Maria.Petrova@Example.BG").status_code == 302
    client.get(flow.authorize_query())
    [notice] = _notices(broker, flow.citizen["id"], NotificationKind.REQUEST)
    assert notice.email_state == EmailState.PENDING

    assert _deliver(app, sender) == (1, 0)
    assert _deliver(app, sender) == (0, 0)  # sent once
    [message] = inbox.messages
    assert message["To"] == "Maria.Petrova@example.bg"
    assert message["Content-Language"] == "bg"
    body = message.get_body(("plain",)).get_content()
    assert "Детски градини" in body or "поиска" in body
    assert "http://localhost/wallet/notifications" in body
    assert flow.citizen["national_id"] not in message.as_string()
    html = message.get_body(("html",)).get_content()
    assert 'href="http://localhost/wallet/notifications"' in html
    [notice] = _notices(broker, flow.citizen["id"], NotificationKind.REQUEST)
    assert notice.email_state == EmailState.SENT and notice.emailed_at is not None


def test_english_citizens_get_english_mail(flow, broker, app, client, smtp):
    inbox, sender = smtp
    with broker.db.sessions() as session, broker.db.writing(session):
        session.execute(update(Subject).where(Subject.id == flow.citizen["id"])
                        .values(locale="en"))
    flow.sign_in()
    _set_email(client, "citizen@example.org")
    client.get(flow.authorize_query())
    _deliver(app, sender)
    [message] = inbox.messages
    assert "asked for your data" in message["Subject"]


def test_an_smtp_server_that_is_down_leaves_the_mail_pending(flow, broker, app, client,
                                                              smtp):
    flow.sign_in()
    _set_email(client, "citizen@example.org")
    client.get(flow.authorize_query())
    dead = SmtpSender(SmtpSettings(host="127.0.0.1", port=_free_port(), timeout=2))
    assert _deliver(app, dead) == (0, 1)
    [notice] = _notices(broker, flow.citizen["id"], NotificationKind.REQUEST)
    assert notice.email_state == EmailState.PENDING and notice.email_attempts == 1
    assert _deliver(app, dead) == (0, 0), "it waits before the next attempt"

    def later() -> None:  # as if the wait had passed
        with broker.db.sessions() as session, broker.db.writing(session):
            session.execute(update(Notification).where(Notification.id == notice.id)
                            .values(emailed_at=utcnow() - timedelta(days=1)))

    later()
    inbox, sender = smtp
    assert _deliver(app, sender) == (1, 0), "back up, the server gets it"
    assert [m["To"] for m in inbox.messages] == ["citizen@example.org"]


def test_mail_is_given_up_after_the_last_attempt(flow, broker, app, client):
    flow.sign_in()
    _set_email(client, "citizen@example.org")
    client.get(flow.authorize_query())
    dead = SmtpSender(SmtpSettings(host="127.0.0.1", port=_free_port(), timeout=2))
    [notice] = _notices(broker, flow.citizen["id"], NotificationKind.REQUEST)
    for _ in range(MAX_ATTEMPTS):
        with broker.db.sessions() as session, broker.db.writing(session):
            session.execute(update(Notification).where(Notification.id == notice.id)
                            .values(emailed_at=utcnow() - timedelta(days=1)))
        _deliver(app, dead)
    [notice] = _notices(broker, flow.citizen["id"], NotificationKind.REQUEST)
    assert notice.email_state == EmailState.FAILED
    assert notice.email_attempts == MAX_ATTEMPTS
    # Given up on e-mail, the notice is still in the wallet.
    assert "<span class=\"badge\">" in client.get("/wallet/").get_data(
        as_text=True)


def test_a_claim_left_by_a_dead_worker_is_given_back(flow, broker, app, client, smtp):
    inbox, sender = smtp
    flow.sign_in()
    _set_email(client, "citizen@example.org")
    client.get(flow.authorize_query())
    [notice] = _notices(broker, flow.citizen["id"], NotificationKind.REQUEST)
    with broker.db.sessions() as session, broker.db.writing(session):
        session.execute(update(Notification).where(Notification.id == notice.id).values(
            email_state=EmailState.SENDING, emailed_at=utcnow() - timedelta(hours=1)))
    assert _deliver(app, sender) == (1, 0)
    assert len(inbox.messages) == 1


def test_racing_deliveries_send_each_mail_once(flow, broker, app, client, smtp):
    inbox, sender = smtp
    flow.sign_in()
    _set_email(client, "citizen@example.org")
    with broker.db.sessions() as session, broker.db.writing(session):
        for number in range(6):
            notify(session, subject_id=flow.citizen["id"], kind=NotificationKind.REQUEST,
                   dedupe_key=f"race-{number}", details={"service": flow.service["client_id"]},
                   now=utcnow())
    threads = [threading.Thread(target=_deliver, args=(app, sender)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ours = [m for m in inbox.messages if m["To"] == "citizen@example.org"]
    assert len(ours) == 6
    assert len({m["Message-ID"] for m in ours}) == 6


# --- the e-mail address -------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["not an address", "a@", "@b.bg", "x" * 400 + "@b.bg"])
def test_a_bad_address_is_refused_and_nothing_changes(flow, broker, client, address):
    flow.sign_in()
    client.set_cookie("serdika_lang", "en")
    response = _set_email(client, address)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter an e-mail address such as name@example.bg" in page
    assert 'aria-invalid="true"' in page
    with broker.db.sessions() as session:
        assert session.get(Subject, flow.citizen["id"]).email_ciphertext is None


def test_the_address_is_kept_sealed_and_can_be_removed(flow, broker, client):
    flow.sign_in()
    _set_email(client, "citizen@example.org")
    with broker.db.sessions() as session:
        sealed = session.get(Subject, flow.citizen["id"]).email_ciphertext
    assert sealed and b"citizen@example.org" not in sealed
    assert 'value="citizen@example.org"' in client.get("/wallet/account").get_data(as_text=True)
    assert _set_email(client, "").status_code == 302
    with broker.db.sessions() as session:
        assert session.get(Subject, flow.citizen["id"]).email_ciphertext is None


def test_the_cli_runs_the_scans(app, flow):
    flow.tokens()
    result = app.test_cli_runner().invoke(args=["notifications", "run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"first_reads", "expiring", "sent", "failed"}


def test_expiring_scan_walks_every_page(broker, flow, demo):
    ids = [ask.tokens()["consent_id"] for ask in (flow, *_other_asks(flow, demo))]
    with broker.db.sessions() as session, broker.db.writing(session):
        session.execute(update(Consent).where(Consent.id.in_(ids))
                        .values(expires_at=utcnow() + timedelta(days=2)))
    with broker.db.sessions() as session, broker.db.writing(session):
        scan_expiring(session, now=utcnow(), batch=1)
    noticed = {n.consent_id for n in _notices(broker, flow.citizen["id"],
                                              NotificationKind.EXPIRING)}
    assert noticed == set(ids)


def test_first_reads_are_found_across_ledger_pages(broker, app, client, demo):
    citizen = dict(demo["citizens"][1])
    with broker.db.sessions() as session:
        citizen["id"] = session.scalar(select(Subject.id).where(
            Subject.username == citizen["username"]))
    consent_ids = []
    for _ in range(2):
        tokens = Flow(client, demo["services"][0], citizen).tokens()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        for _read in range(3):
            assert client.get(PERSON, headers=bearer).status_code == 200
        consent_ids.append(tokens["consent_id"])
    from consent.notifications import scan_first_reads

    with broker.db.sessions() as session, broker.db.writing(session):
        scan_first_reads(session, now=utcnow(), batch=2)
    noticed = [n.consent_id for n in _notices(broker, citizen["id"],
                                              NotificationKind.FIRST_READ)]
    assert all(noticed.count(consent_id) == 1 for consent_id in consent_ids)
