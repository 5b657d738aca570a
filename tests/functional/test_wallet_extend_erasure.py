"""Extending a consent, and asking the service to erase what it received (wallet and API)."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from broker.oauth.models import Token
from consent.ledger.entries import LedgerEvent
from consent.models import (
    Consent,
    ConsentStatus,
    ErasureRequest,
    LedgerEntry,
    Notification,
    Receipt,
)
from consent.receipts import verify_bundle
from consent.types import utcnow
from tests.flows import Flow, basic, create_citizen, csrf_token, revoke_in_wallet

ERASURES = "/api/v1/erasure-requests"


@pytest.fixture
def citizen(broker: Any, demo: Any) -> dict[str, Any]:
    return create_citizen(broker, "x_")


@pytest.fixture
def flow(client: Any, demo: Any, citizen: dict[str, Any]) -> Flow:
    client.environ_base["REMOTE_ADDR"] = f"10.9.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    client.set_cookie("serdika_lang", "en")
    return Flow(client, demo["services"][0], citizen)


def _consent_id(tokens: dict[str, Any]) -> str:
    return str(tokens["consent_id"])


def _page(client: Any, consent_id: str) -> str:
    response = client.get(f"/wallet/consents/{consent_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _consent(broker: Any, consent_id: str) -> Consent:
    with broker.db.sessions() as session:
        consent = session.get(Consent, consent_id)
        session.expunge(consent)
        return consent


def _events(broker: Any, consent_id: str, event: LedgerEvent) -> list[dict[str, Any]]:
    with broker.db.sessions() as session:
        rows = session.scalars(select(LedgerEntry.entry).where(
            LedgerEntry.consent_id == consent_id, LedgerEntry.event == event)).all()
    return [json.loads(row) for row in rows]


def _shown_end(page: str) -> str:
    """The end date the extend form carries (what the citizen saw)."""
    marker = 'name="expires_at" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def _extend(client: Any, consent_id: str, expires_at: str | None = None) -> Any:
    page = _page(client, consent_id)
    return client.post(f"/wallet/consents/{consent_id}/extend",
                       data={"csrf_token": csrf_token(page),
                             "expires_at": expires_at or _shown_end(page)})


# --- extending ----------------------------------------------------------------------------------

def test_extending_moves_the_end_by_the_consents_duration(flow, broker, client):
    tokens = flow.tokens()
    consent_id = _consent_id(tokens)
    before = _consent(broker, consent_id).expires_at

    response = _extend(client, consent_id)

    assert response.status_code == 302
    after = _consent(broker, consent_id).expires_at
    assert after - before == timedelta(days=90)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Consent extended" in page
    assert "Signed receipt of the extension" in page
    [entry] = _events(broker, consent_id, LedgerEvent.CONSENT_EXTENDED)
    assert entry["expires"] == after.isoformat()
    assert entry["previous_expires"] == before.isoformat()
    assert entry["by"] == "subject"
    # The refresh token now lasts as long as the consent, and still works.
    with broker.db.sessions() as session:
        ends = session.scalars(select(Token.refresh_expires_at).where(
            Token.consent_id == consent_id, Token.revoked_at.is_(None))).all()
    assert ends == [after]
    refreshed = client.post("/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(flow.service["client_id"], flow.service["client_secret"]))
    assert refreshed.status_code == 200


def test_the_extension_receipt_verifies_offline(flow, broker, client):
    consent_id = _consent_id(flow.tokens())
    _extend(client, consent_id)
    with broker.db.sessions() as session:
        receipt = session.scalar(select(Receipt).where(
            Receipt.consent_id == consent_id, Receipt.kind == "extension"))
    bundle = client.get(f"/wallet/consents/{consent_id}/receipts/{receipt.id}").get_json()
    assert verify_bundle(bundle) == []
    assert bundle["entry"]["event"] == "consent:extended"


def test_a_double_submit_extends_once(flow, broker, client):
    consent_id = _consent_id(flow.tokens())
    shown = _shown_end(_page(client, consent_id))
    first = _extend(client, consent_id, shown)
    second = _extend(client, consent_id, shown)
    assert first.status_code == second.status_code == 302
    assert len(_events(broker, consent_id, LedgerEvent.CONSENT_EXTENDED)) == 1


def test_extension_stops_at_the_purposes_maximum(flow, broker, client):
    consent_id = _consent_id(flow.tokens())
    for _ in range(3):  # 90 days, then 180, 270, 360: the purpose allows one year
        assert _extend(client, consent_id).status_code == 302
    assert _extend(client, consent_id).status_code == 302  # up to the year, not beyond
    end = _consent(broker, consent_id).expires_at
    assert end <= utcnow() + timedelta(days=366)
    page = _page(client, consent_id)
    assert "Extend consent" not in page
    refused = client.post(f"/wallet/consents/{consent_id}/extend", data={
        "csrf_token": csrf_token(page), "expires_at": end.isoformat()})
    assert refused.status_code == 409
    assert "Nothing was changed" in refused.get_data(as_text=True)
    assert _consent(broker, consent_id).expires_at == end


def test_a_withdrawn_consent_cannot_be_extended(flow, broker, client):
    consent_id = _consent_id(flow.tokens())
    end = _consent(broker, consent_id).expires_at
    revoke_in_wallet(client, consent_id)
    page = _page(client, consent_id)
    assert "Extend consent" not in page
    response = client.post(f"/wallet/consents/{consent_id}/extend", data={
        "csrf_token": csrf_token(page), "expires_at": end.isoformat()})
    assert response.status_code == 409
    assert _events(broker, consent_id, LedgerEvent.CONSENT_EXTENDED) == []


def test_another_citizens_consent_cannot_be_extended_or_erased(flow, broker, client, demo):
    consent_id = _consent_id(flow.tokens())
    end = _consent(broker, consent_id).expires_at
    other = create_citizen(broker, "y_")
    client.post("/wallet/sign-out", data={"csrf_token": csrf_token(
        client.get("/wallet/").get_data(as_text=True))})
    Flow(client, {}, other).sign_in()
    token = csrf_token(client.get("/wallet/").get_data(as_text=True))
    for action in ("extend", "erasure"):
        response = client.post(f"/wallet/consents/{consent_id}/{action}",
                               data={"csrf_token": token, "expires_at": end.isoformat()})
        assert response.status_code == 404
    assert _consent(broker, consent_id).expires_at == end
    assert _events(broker, consent_id, LedgerEvent.ERASURE_REQUESTED) == []


def test_signed_out_actions_change_nothing(flow, broker, client):
    consent_id = _consent_id(flow.tokens())
    stranger = client.application.test_client()  # no session, no CSRF token
    stranger.set_cookie("serdika_lang", "en")
    for action in ("extend", "erasure"):
        response = stranger.post(f"/wallet/consents/{consent_id}/{action}", data={})
        assert response.status_code == 400
        assert "Nothing was changed" in response.get_data(as_text=True)
        assert stranger.get(f"/wallet/consents/{consent_id}/{action}").status_code == 405
    assert _events(broker, consent_id, LedgerEvent.CONSENT_EXTENDED) == []
    assert _events(broker, consent_id, LedgerEvent.ERASURE_REQUESTED) == []


def test_a_forged_form_is_refused_with_a_page(flow, client):
    consent_id = _consent_id(flow.tokens())
    response = client.post(f"/wallet/consents/{consent_id}/extend",
                           data={"csrf_token": "forged", "expires_at": "x"})
    assert response.status_code == 400
    assert "Nothing was changed" in response.get_data(as_text=True)


# --- erasure requests ---------------------------------------------------------------------------

def _service_token(client: Any, service: dict[str, Any], scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = client.post("/oauth2/token", data=data,
                           headers=basic(service["client_id"], service["client_secret"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def _ask(client: Any, consent_id: str) -> Any:
    page = _page(client, consent_id)
    return client.post(f"/wallet/consents/{consent_id}/erasure",
                       data={"csrf_token": csrf_token(page)})


def test_erasure_request_is_pending_until_the_service_acknowledges(flow, broker, client, demo):
    tokens = flow.tokens()
    consent_id = _consent_id(tokens)
    revoke_in_wallet(client, consent_id)

    asked = _ask(client, consent_id)
    assert asked.status_code == 302
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert "Pending" in page and "has not confirmed the erasure yet" in page
    [requested] = _events(broker, consent_id, LedgerEvent.ERASURE_REQUESTED)

    bearer = {"Authorization": f"Bearer {_service_token(client, flow.service)}"}
    listing = client.get(ERASURES, headers=bearer)
    assert listing.status_code == 200
    mine = [item for item in listing.get_json()["erasure_requests"]
            if item["consent_id"] == consent_id]
    assert len(mine) == 1
    item = mine[0]
    assert item["status"] == "pending" and item["id"] == requested["request"]
    # The service knows the citizen by its own pairwise id only.
    assert item["subject"] == _consent(broker, consent_id).subject_pairwise
    assert flow.citizen["national_id"] not in listing.get_data(as_text=True)

    acknowledged = client.post(f"{ERASURES}/{item['id']}/acknowledge", headers=bearer)
    assert acknowledged.status_code == 200
    assert acknowledged.get_json()["status"] == "acknowledged"
    again = client.post(f"{ERASURES}/{item['id']}/acknowledge", headers=bearer)
    assert again.status_code == 200
    assert again.get_json()["acknowledged_at"] == acknowledged.get_json()["acknowledged_at"]
    assert len(_events(broker, consent_id, LedgerEvent.ERASURE_ACKNOWLEDGED)) == 1

    page = _page(client, consent_id)
    assert "Erased" in page and "confirmed on" in page
    pending = client.get(ERASURES, headers=bearer).get_json()["erasure_requests"]
    assert item["id"] not in [entry["id"] for entry in pending]
    everything = client.get(ERASURES + "?status=all", headers=bearer).get_json()
    assert item["id"] in [entry["id"] for entry in everything["erasure_requests"]]
    with broker.db.sessions() as session:
        notices = session.scalars(select(Notification).where(
            Notification.subject_id == flow.citizen["id"],
            Notification.kind == "erasure_acknowledged")).all()
    assert [notice.consent_id for notice in notices] == [consent_id]


def test_asking_twice_records_one_pending_request(flow, broker, client):
    consent_id = _consent_id(flow.tokens())
    page = _page(client, consent_id)
    token = csrf_token(page)
    for _ in range(2):
        response = client.post(f"/wallet/consents/{consent_id}/erasure",
                               data={"csrf_token": token})
        assert response.status_code == 302
    with broker.db.sessions() as session:
        count = session.scalar(select(func.count()).select_from(ErasureRequest).where(
            ErasureRequest.consent_id == consent_id))
    assert count == 1
    assert "Ask for erasure" not in _page(client, consent_id)


def test_a_refused_request_has_nothing_to_erase(flow, broker, client):
    flow.decide("deny")
    with broker.db.sessions() as session:
        consent_id = session.scalar(select(Consent.id).where(
            Consent.subject_id == flow.citizen["id"], Consent.status == ConsentStatus.DENIED))
    page = _page(client, consent_id)
    assert "Ask for erasure" not in page
    response = client.post(f"/wallet/consents/{consent_id}/erasure",
                           data={"csrf_token": csrf_token(page)})
    assert response.status_code == 409
    assert _events(broker, consent_id, LedgerEvent.ERASURE_REQUESTED) == []


def test_another_service_cannot_see_or_acknowledge_the_request(flow, broker, client, demo):
    consent_id = _consent_id(flow.tokens())
    _ask(client, consent_id)
    with broker.db.sessions() as session:
        request_id = session.scalar(select(ErasureRequest.id).where(
            ErasureRequest.consent_id == consent_id))
    other = next(s for s in demo["services"] if s["client_id"] != flow.service["client_id"])
    bearer = {"Authorization": f"Bearer {_service_token(client, other)}"}
    listed = client.get(ERASURES + "?status=all", headers=bearer).get_json()
    assert request_id not in [item["id"] for item in listed["erasure_requests"]]
    for response in (client.get(f"{ERASURES}/{request_id}", headers=bearer),
                     client.post(f"{ERASURES}/{request_id}/acknowledge", headers=bearer)):
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
    assert _events(broker, consent_id, LedgerEvent.ERASURE_ACKNOWLEDGED) == []


@pytest.mark.parametrize("path", [
    ERASURES + "?status=done",
    ERASURES + "?after=not-a-cursor",
    ERASURES + "?after=" + "A" * 40,
])
def test_bad_arguments_are_problems(client, demo, path):
    bearer = {"Authorization": f"Bearer {_service_token(client, demo['services'][0])}"}
    response = client.get(path, headers=bearer)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("request_id", ["era_unknown", "x" * 300, "%00", "é"])
def test_unknown_requests_are_404(client, demo, request_id):
    bearer = {"Authorization": f"Bearer {_service_token(client, demo['services'][0])}"}
    response = client.post(f"{ERASURES}/{request_id}/acknowledge", headers=bearer)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_api_needs_the_erasure_scope(client, demo):
    assert client.get(ERASURES).status_code == 401
    assert client.get(ERASURES, headers={"Authorization": "Bearer nope"}).status_code == 401
    auditor = demo["auditors"][0]
    token = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                        headers=basic(auditor["client_id"], auditor["client_secret"]))
    bearer = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    refused = client.get(ERASURES, headers=bearer)
    assert refused.status_code == 403
    assert "erasure:manage" in refused.get_json()["detail"]


def test_the_listing_pages_with_a_cursor(flow, broker, client, demo):
    consent_id = _consent_id(flow.tokens())
    now = utcnow()
    with broker.db.sessions() as session, broker.db.writing(session):
        consent = session.get(Consent, consent_id)
        for number in range(105):
            session.add(ErasureRequest(
                id=f"era_page_{consent_id[-6:]}_{number:03d}", consent_id=consent_id,
                service_id=consent.service_id, requested_at=now - timedelta(days=400),
                ledger_index=0, acknowledged_at=now))
    bearer = {"Authorization": f"Bearer {_service_token(client, flow.service)}"}
    seen: list[str] = []
    url = ERASURES + "?status=all"
    while url:
        body = client.get(url, headers=bearer).get_json()
        seen += [item["id"] for item in body["erasure_requests"]]
        url = body.get("next")
    ours = [item for item in seen if item.startswith(f"era_page_{consent_id[-6:]}")]
    assert ours == sorted(ours) and len(ours) == 105
    assert len(seen) == len(set(seen))
