"""The data API: only consented fields, pairwise subjects, problem+json refusals, the ledger."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from broker.oauth.models import Token
from consent.crypto import token_hash
from consent.models import LedgerEntry
from consent.types import utcnow
from tests.flows import Flow, expire_consent, person_details, revoke_in_wallet

PERSON = "/api/v1/data/civil_registry/person"
HOUSEHOLD = "/api/v1/data/civil_registry/household"
GIVEN_NAMES = {"maria": "Мария", "georgi": "Георги", "elena": "Елена"}


def _flow(client: Any, demo: dict[str, Any], service: int = 0, citizen: int = 0,
          **kwargs: Any) -> Flow:
    return Flow(client, demo["services"][service], demo["citizens"][citizen], **kwargs)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _problem(response: Any, status: int, error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    if error is not None:
        assert body["error"] == error
        # Problem types live under the configured issuer (SERDIKA_ISSUER), not a placeholder.
        assert body["type"] == "http://localhost/problems/" + error
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def _ledger(broker: Any, consent_id: str) -> list[LedgerEntry]:
    with broker.db.sessions() as session:
        return list(session.scalars(select(LedgerEntry)
                                    .where(LedgerEntry.consent_id == consent_id)
                                    .order_by(LedgerEntry.index)))


def _reads(broker: Any, consent_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(row.event, json.loads(row.entry)) for row in _ledger(broker, consent_id)
            if row.event.startswith("data:")]


def _all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *_all_strings(item)]]
    if isinstance(value, list):
        return [s for item in value for s in _all_strings(item)]
    return [str(value)]


# --- what is returned -------------------------------------------------------------------------

def test_only_consented_fields_are_returned(client, demo):
    flow = _flow(client, demo, details=person_details(["given_name", "family_name",
                                                       "birth_date"]))
    tokens = flow.tokens()
    service_client = client.application.test_client()  # a service sends no wallet cookie
    response = service_client.get(PERSON, headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    body = response.get_json()
    assert set(body) == {"consent_id", "subject", "resource", "data"}
    assert body["consent_id"] == tokens["consent_id"]
    assert body["resource"] == "person"
    assert set(body["data"]) == {"given_name", "family_name", "birth_date"}
    assert body["data"]["given_name"] == GIVEN_NAMES[flow.citizen["username"]]
    assert body["data"]["birth_date"] == "1988-03-14"


def test_fields_parameter_narrows(client, demo):
    tokens = _flow(client, demo).tokens()
    response = client.get(PERSON + "?fields=family_name,given_name",
                          headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert set(response.get_json()["data"]) == {"given_name", "family_name"}
    repeated = client.get(PERSON + "?fields=address,address",
                          headers=_bearer(tokens["access_token"]))
    assert repeated.status_code == 200
    assert set(repeated.get_json()["data"]) == {"address"}


def test_field_outside_the_consent_is_403_insufficient_scope(client, demo, broker):
    tokens = _flow(client, demo).tokens()
    response = client.get(PERSON + "?fields=given_name,national_id",
                          headers=_bearer(tokens["access_token"]))
    body = _problem(response, 403, "insufficient_scope")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge
    assert "data" not in body
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_field_is_403(client, demo):
    tokens = _flow(client, demo).tokens()
    response = client.get(PERSON + "?fields=shoe_size", headers=_bearer(tokens["access_token"]))
    _problem(response, 403, "insufficient_scope")


def test_resource_outside_the_consent_is_403(client, demo):
    tokens = _flow(client, demo).tokens()
    response = client.get(HOUSEHOLD, headers=_bearer(tokens["access_token"]))
    _problem(response, 403, "insufficient_scope")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


FREE_TEXT = "maria_ivanova_8803144710_" + "x" * 30


@pytest.mark.parametrize("path", ["/api/v1/data/civil_registry/passport",
                                  "/api/v1/data/tax_agency/person",
                                  f"/api/v1/data/civil_registry/{FREE_TEXT}",
                                  f"/api/v1/data/{'ж' * 300}/person"])
def test_a_path_naming_no_connector_or_resource_is_404_and_writes_nothing(client, demo, broker,
                                                                          path):
    tokens = _flow(client, demo).tokens()
    response = client.get(path, headers=_bearer(tokens["access_token"]))
    body = _problem(response, 404, "unknown_resource")
    assert FREE_TEXT not in json.dumps(body)
    assert _reads(broker, tokens["consent_id"]) == []


def test_only_field_names_the_catalogue_knows_reach_the_ledger(client, demo, broker):
    tokens = _flow(client, demo).tokens()
    response = client.get(f"{PERSON}?fields=given_name,national_id,{FREE_TEXT}",
                          headers=_bearer(tokens["access_token"]))
    _problem(response, 403, "insufficient_scope")
    [(event, entry)] = _reads(broker, tokens["consent_id"])
    assert event == "data:read_refused" and entry["reason"] == "field_not_granted"
    assert entry["fields"] == ["given_name", "national_id"]


@pytest.mark.parametrize("fields", ["", ",", "given_name,", ",given_name", "Given_Name",
                                    "given name", "given_name,,family_name", "1abc",
                                    "given_name;family_name", "%ff%fe", "given_name%00",
                                    "a" * 65, ",".join(["a"] * 65), "ж"])
def test_malformed_fields_parameter_is_400(client, demo, fields):
    tokens = _flow(client, demo).tokens()
    response = client.get(PERSON + "?fields=" + fields, headers=_bearer(tokens["access_token"]))
    _problem(response, 400, "invalid_request")


def test_household_when_consented(client, demo):
    details = person_details(["address", "size"], resource="household")
    tokens = _flow(client, demo, details=details).tokens()
    response = client.get(HOUSEHOLD, headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.get_json()["data"] == {"address": response.get_json()["data"]["address"],
                                           "size": 3}
    person = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    _problem(person, 403, "insufficient_scope")


# --- tokens -----------------------------------------------------------------------------------

def test_missing_token_is_401_with_bearer_challenge(client, demo):
    response = client.get(PERSON)
    _problem(response, 401)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert "error=" not in challenge  # RFC 6750 §3.1: no error code when no token was sent


@pytest.mark.parametrize("header", [
    "Bearer sat_not_a_token", "Bearer ", "Bearer", "Basic a2luZGVyZ2FydGVuczp4",
    "bearer sat_not_a_token", "Bearer " + "a" * 300, "Bearer ж", "Token abc", "  ",
])
def test_bad_token_is_401_invalid_token(client, demo, header):
    response = client.get(PERSON, headers={"Authorization": header})
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if header.strip():
        assert response.get_json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_in_the_query_string_is_not_accepted(client, demo):
    tokens = _flow(client, demo).tokens()
    response = client.get(PERSON + "?access_token=" + tokens["access_token"])
    _problem(response, 401)


def test_refresh_token_is_not_an_access_token(client, demo):
    tokens = _flow(client, demo).tokens()
    response = client.get(PERSON, headers=_bearer(tokens["refresh_token"]))
    _problem(response, 401, "invalid_token")


def test_expired_access_token_is_401(client, demo, broker):
    tokens = _flow(client, demo).tokens()
    with broker.db.sessions() as session:
        session.execute(update(Token)
                        .where(Token.access_token_hash == token_hash(tokens["access_token"]))
                        .values(access_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    response = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    _problem(response, 401, "invalid_token")


def test_a_token_is_only_valid_for_its_own_consent_and_client(client, demo, broker):
    """Tokens are bound to a client: one pointed at another service's consent is refused."""
    mine = _flow(client, demo).tokens()
    theirs = _flow(client, demo, service=2, details=person_details(
        purpose="energy_poverty_support")).tokens()
    assert mine["consent_id"] != theirs["consent_id"]
    # each token reads only its own consent
    read = client.get(PERSON, headers=_bearer(theirs["access_token"])).get_json()
    assert read["consent_id"] == theirs["consent_id"]
    # a token whose consent belongs to another client is refused outright
    with broker.db.sessions() as session:
        session.execute(update(Token)
                        .where(Token.access_token_hash == token_hash(theirs["access_token"]))
                        .values(consent_id=mine["consent_id"]))
        session.commit()
    response = client.get(PERSON, headers=_bearer(theirs["access_token"]))
    _problem(response, 401, "invalid_token")
    assert client.get(PERSON, headers=_bearer(mine["access_token"])).status_code == 200


def test_revoked_consent_is_401_invalid_token(client, demo, broker):
    tokens = _flow(client, demo).tokens()
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 200
    revoke_in_wallet(client, tokens["consent_id"])
    response = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    _problem(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    # even for a resource the consent never covered, the answer is that the token is dead
    _problem(client.get(HOUSEHOLD, headers=_bearer(tokens["access_token"])), 401,
             "invalid_token")


def test_expired_consent_is_401_invalid_token(client, demo, broker):
    tokens = _flow(client, demo).tokens()
    expire_consent(broker, tokens["consent_id"])
    response = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    _problem(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_other_methods_are_405_problem(client, demo):
    tokens = _flow(client, demo).tokens()
    response = client.post(PERSON, headers=_bearer(tokens["access_token"]))
    _problem(response, 405)


def test_unknown_api_path_is_404_problem(client, demo):
    _problem(client.get("/api/v1/data/civil_registry"), 404)


# --- pairwise subjects ------------------------------------------------------------------------

def test_pairwise_subject_is_stable_per_service_and_differs_across_services(client, demo):
    citizen = demo["citizens"][0]
    # Two consents of one service (two purposes), and one of another service.
    first = _flow(client, demo, service=2, details=person_details(
        purpose="energy_poverty_support")).tokens()
    second = _flow(client, demo, service=2, details=person_details(
        ["given_name", "family_name"], purpose="public_transport_card")).tokens()
    other = _flow(client, demo).tokens()
    assert first["consent_id"] != second["consent_id"]

    def subject(tokens: dict[str, Any]) -> str:
        response = client.get(PERSON, headers=_bearer(tokens["access_token"]))
        assert response.status_code == 200
        assert citizen["national_id"] not in response.get_data(as_text=True)
        return response.get_json()["subject"]

    assert subject(first) == subject(second)
    assert subject(first) != subject(other)
    assert citizen["national_id"] not in {subject(first), subject(other)}


def test_pairwise_subject_differs_between_citizens(client, app, demo):
    maria = _flow(client, demo).tokens()
    elena_client = app.test_client()
    elena = _flow(elena_client, demo, citizen=2).tokens()
    a = client.get(PERSON, headers=_bearer(maria["access_token"])).get_json()
    b = client.get(PERSON, headers=_bearer(elena["access_token"])).get_json()
    assert a["subject"] != b["subject"]
    assert a["data"]["given_name"] == "Мария"
    assert b["data"]["given_name"] == "Елена"


def test_national_id_only_when_granted(client, demo):
    citizen = demo["citizens"][0]
    tokens = _flow(client, demo, details=person_details(["given_name", "family_name",
                                                       "national_id"])).tokens()
    response = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    body = response.get_json()
    assert body["data"]["national_id"] == citizen["national_id"]
    assert body["subject"] != citizen["national_id"]


# --- the ledger -------------------------------------------------------------------------------

def test_every_read_is_in_the_ledger_without_values(client, demo, broker):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    consent_id = tokens["consent_id"]
    given_name = GIVEN_NAMES[flow.citizen["username"]]
    headers = _bearer(tokens["access_token"])
    assert _reads(broker, consent_id) == []

    assert client.get(PERSON + "?fields=given_name,address", headers=headers).status_code == 200
    assert client.get(PERSON + "?fields=national_id", headers=headers).status_code == 403
    assert client.get(HOUSEHOLD, headers=headers).status_code == 403
    assert client.get(PERSON, headers=headers).status_code == 200

    reads = _reads(broker, consent_id)
    assert [event for event, _ in reads] == ["data:read", "data:read_refused",
                                             "data:read_refused", "data:read"]
    granted = reads[0][1]
    granted_strings = _all_strings(granted)
    assert "given_name" in granted_strings and "address" in granted_strings
    assert reads[3][1] != granted
    refused_strings = _all_strings(reads[1][1])
    assert "national_id" in refused_strings
    assert "household" in _all_strings(reads[2][1])
    for event, entry in reads:
        text = json.dumps(entry, ensure_ascii=False)
        assert given_name not in text, (event, entry)
        assert flow.citizen["national_id"] not in text
        assert "Петрова" not in text and "1988-03-14" not in text
        assert "София" not in text
        assert tokens["access_token"] not in text


def test_reads_after_revocation_are_recorded_as_refused(client, demo, broker):
    tokens = _flow(client, demo).tokens()
    revoke_in_wallet(client, tokens["consent_id"])
    before = len(_reads(broker, tokens["consent_id"]))
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 401
    reads = _reads(broker, tokens["consent_id"])
    assert len(reads) == before + 1
    assert reads[-1][0] == "data:read_refused"


def test_malformed_requests_do_not_write_the_ledger(client, demo, broker):
    tokens = _flow(client, demo).tokens()
    with broker.db.sessions() as session:
        size = session.scalar(select(func.count()).select_from(LedgerEntry))
    client.get(PERSON + "?fields=,", headers=_bearer(tokens["access_token"]))
    client.get(PERSON, headers=_bearer("sat_nothing"))
    client.get(PERSON)
    with broker.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == size


# --- hostile input ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/data/civil_registry/person?fields=%ff%fe",
    "/api/v1/data/%ff%fe/person",
    "/api/v1/data/civil_registry/%c3%28",
    "/api/v1/data/civil_registry/person?fields=given_name&fields=national_id",
])
def test_odd_bytes_never_give_500(client, demo, path):
    tokens = _flow(client, demo).tokens()
    response = client.get(path, headers=_bearer(tokens["access_token"]))
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype in ("application/json", "application/problem+json")


@pytest.mark.parametrize("value", ["Bearer \xff\xfe", "Bearer \udcff\udcfe",
                                   "Bearer sat_abc\x00", "Bearer a b"])
def test_odd_authorization_header_never_gives_500(client, demo, value):
    response = client.get(PERSON, headers=[("Authorization", value)])
    _problem(response, 401, "invalid_token")
