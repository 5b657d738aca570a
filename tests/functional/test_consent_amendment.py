"""Consents do not pile up: a service asking again for the same purpose amends the one that
stands, and a service giving its access up (RFC 7009) ends its consent for what it is."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from consent.models import Consent, ConsentStatus, LedgerEntry, Receipt
from consent.receipts import ReceiptKind
from tests.flows import Flow, basic, create_citizen, csrf_token, person_details

PERSON = "/api/v1/data/civil_registry/person"


def _standing(broker: Any, citizen: dict[str, Any]) -> list[Consent]:
    with broker.db.sessions() as session:
        return list(session.scalars(select(Consent).where(
            Consent.subject_id == citizen["id"],
            Consent.status.in_((ConsentStatus.ACTIVE, ConsentStatus.PAUSED)))).all())


def _entries(broker: Any, consent_id: str) -> list[dict[str, Any]]:
    with broker.db.sessions() as session:
        rows = session.scalars(select(LedgerEntry.entry).where(
            LedgerEntry.consent_id == consent_id).order_by(LedgerEntry.index)).all()
    return [json.loads(row) for row in rows]


def _asking(client: Any, service: dict[str, Any], citizen: dict[str, Any], fields: list[str]
            ) -> Flow:
    """The service asks the citizen again, whatever they already allow it (no withdrawal)."""
    return Flow(client, service, citizen, details=person_details(fields), fresh=False)


def _decided(client: Any, token: str, fields: str) -> int:
    """The status of a read of ``fields``: 404 when the decision let it through to the source
    (which does not know a citizen made by the test), 403 when the consent does not cover it."""
    return client.get(f"{PERSON}?fields={fields}",
                      headers={"Authorization": f"Bearer {token}"}).status_code


def _receipt_kinds(broker: Any, consent_id: str) -> list[str]:
    with broker.db.sessions() as session:
        return list(session.scalars(select(Receipt.kind).where(Receipt.consent_id == consent_id)
                                    .order_by(Receipt.ledger_index)).all())


def test_asking_again_amends_the_consent_that_stands(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][0]
    first = _asking(client, service, citizen, ["given_name"]).tokens()
    second = _asking(client, service, citizen, ["given_name", "family_name"]).tokens()

    assert second["consent_id"] == first["consent_id"]
    standing = _standing(broker, citizen)
    assert [consent.id for consent in standing] == [first["consent_id"]]
    assert standing[0].scope[0]["fields"] == ["given_name", "family_name"]
    amended = _entries(broker, first["consent_id"])[-1]
    assert amended["event"] == "consent:amended"
    assert amended["added"] == ["civil_registry.person.family_name"]
    assert amended["removed"] == [] and amended["by"] == "subject"
    # The token issued first reads what the consent now covers: decisions read it live.
    assert _decided(client, first["access_token"], "family_name") == 404
    assert _receipt_kinds(broker, first["consent_id"]) == [ReceiptKind.GRANT,
                                                            ReceiptKind.AMENDMENT]


def test_a_field_removed_by_the_amendment_is_refused_to_every_token(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][0]
    first = _asking(client, service, citizen, ["given_name", "family_name"]).tokens()
    _asking(client, service, citizen, ["given_name"]).tokens()
    assert _decided(client, first["access_token"], "family_name") == 403
    amended = _entries(broker, first["consent_id"])
    assert next(entry for entry in amended if entry["event"] == "consent:amended")["removed"] == [
        "civil_registry.person.family_name"]


def test_the_request_page_shows_what_would_change(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][0]
    _asking(client, service, citizen, ["given_name"]).tokens()
    flow = _asking(client, service, citizen, ["family_name"])
    flow.sign_in()
    page = client.get(flow.authorize_query()).get_data(as_text=True)
    change = page.split('id="change"')[1].split("</section>")[0]
    added, removed = change.split("</li>")[:2]
    assert re.search(r"(Family name|Фамилно име)", added), change
    assert re.search(r"(Given name|Собствено име)", removed), change
    assert "<li>" not in change.split("</li>")[2]  # the same end: no line about it


def test_denying_the_new_request_leaves_the_consent_as_it_was(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][0]
    first = _asking(client, service, citizen, ["given_name"]).tokens()
    query = _asking(client, service, citizen, ["given_name", "family_name"]).decide("deny")
    assert query["error"] == ["access_denied"]
    standing = _standing(broker, citizen)
    assert [(consent.id, consent.scope[0]["fields"]) for consent in standing] == [
        (first["consent_id"], ["given_name"])]
    assert _decided(client, first["access_token"], "given_name") == 404


def test_allowing_again_resumes_a_paused_consent(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][0]
    first = _asking(client, service, citizen, ["given_name"]).tokens()
    page = client.get(f"/wallet/consents/{first['consent_id']}")
    assert client.post(f"/wallet/consents/{first['consent_id']}/pause", data={
        "csrf_token": csrf_token(page.get_data(as_text=True))}).status_code == 302
    again = _asking(client, service, citizen, ["given_name"]).tokens()
    assert again["consent_id"] == first["consent_id"]
    assert [consent.status for consent in _standing(broker, citizen)] == [ConsentStatus.ACTIVE]
    events = [entry["event"] for entry in _entries(broker, first["consent_id"])]
    assert events[-3:] == ["consent:paused", "consent:amended", "consent:resumed"]


def test_another_purpose_of_the_same_service_is_a_consent_of_its_own(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][2]  # energy-support: two purposes
    details = [{"type": "personal_data", "connector": "civil_registry", "resource": "person",
                "fields": ["given_name"], "purpose": purpose}
               for purpose in ("energy_poverty_support", "public_transport_card")]
    first = Flow(client, service, citizen, fresh=False, details=details[:1]).tokens()
    second = Flow(client, service, citizen, fresh=False, details=details[1:]).tokens()
    assert first["consent_id"] != second["consent_id"]
    assert len(_standing(broker, citizen)) == 2


# --- RFC 7009: the service gives its access up ---------------------------------------------


def _revoke(client: Any, service: dict[str, Any], token: str) -> Any:
    return client.post("/oauth2/revoke", headers=basic(service["client_id"],
                                                        service["client_secret"]),
                       data={"token": token, "token_type_hint": "refresh_token"})


def test_revoking_the_last_refresh_token_ends_the_consent_by_the_service(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][0]
    tokens = _asking(client, service, citizen, ["given_name"]).tokens()
    assert _revoke(client, service, tokens["refresh_token"]).status_code == 200

    with broker.db.sessions() as session:
        assert session.get(Consent, tokens["consent_id"]).status == ConsentStatus.REVOKED
    assert _receipt_kinds(broker, tokens["consent_id"])[-1] == ReceiptKind.REVOCATION
    ended = _entries(broker, tokens["consent_id"])[-1]
    assert (ended["event"], ended["by"]) == ("consent:revoked", "service")


def test_a_consent_with_another_live_refresh_token_stays(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][0]
    first = _asking(client, service, citizen, ["given_name"]).tokens()
    second = _asking(client, service, citizen, ["given_name"]).tokens()
    assert second["consent_id"] == first["consent_id"]
    assert _revoke(client, service, first["refresh_token"]).status_code == 200
    assert [consent.id for consent in _standing(broker, citizen)] == [first["consent_id"]]
    assert _revoke(client, service, second["refresh_token"]).status_code == 200
    assert _standing(broker, citizen) == []


def test_the_wallet_says_the_service_gave_the_access_up(client, demo, broker):
    citizen = create_citizen(broker)
    service = demo["services"][0]
    tokens = _asking(client, service, citizen, ["given_name"]).tokens()
    assert _revoke(client, service, tokens["refresh_token"]).status_code == 200
    client.set_cookie("serdika_lang", "en")
    page = client.get(f"/wallet/consents/{tokens['consent_id']}").get_data(as_text=True)
    assert "Given up by the service" in page and 'id="given-up"' in page
    assert "Withdrawn by you" not in page
    home = client.get("/wallet/").get_data(as_text=True)
    assert "Given up by the service on" in home
