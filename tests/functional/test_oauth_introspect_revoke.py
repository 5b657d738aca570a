"""Token introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.flows import Flow, basic, expire_consent, revoke_in_wallet

PERSON = "/api/v1/data/civil_registry/person"


def _flow(client: Any, demo: dict[str, Any], service: int = 0, citizen: int = 0) -> Flow:
    return Flow(client, demo["services"][service], demo["citizens"][citizen])


def _auth(party: dict[str, Any]) -> dict[str, str]:
    return basic(party["client_id"], party["client_secret"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def introspect(client: Any, party: dict[str, Any], token: str, **extra: str) -> Any:
    return client.post("/oauth2/introspect", headers=_auth(party),
                       data={"token": token, **extra})


def revoke(client: Any, party: dict[str, Any], token: str, **extra: str) -> Any:
    return client.post("/oauth2/revoke", headers=_auth(party), data={"token": token, **extra})


def _inactive(response: Any) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json() == {"active": False}


# --- introspection ----------------------------------------------------------------------------

def test_owner_introspects_an_active_access_token(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    response = introspect(client, flow.service, tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["active"] is True
    assert body["client_id"] == flow.service["client_id"]
    assert body["consent_id"] == tokens["consent_id"]
    assert body["authorization_details"] == tokens["authorization_details"]
    assert body["token_type"] == "Bearer"
    assert body["iss"] == "http://localhost"
    assert body["iat"] <= body["exp"]
    assert body["sub"] and body["sub"] != flow.citizen["national_id"]
    assert flow.citizen["national_id"] not in response.get_data(as_text=True)
    read = client.get(PERSON, headers=_bearer(tokens["access_token"])).get_json()
    assert body["sub"] == read["subject"]


def test_owner_introspects_a_refresh_token(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    body = introspect(client, flow.service, tokens["refresh_token"],
                      token_type_hint="refresh_token").get_json()
    assert body["active"] is True
    assert body["consent_id"] == tokens["consent_id"]
    # the hint is only a hint
    assert introspect(client, flow.service, tokens["refresh_token"],
                      token_type_hint="access_token").get_json()["active"] is True


def test_rotated_refresh_token_is_inactive(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    rotated = client.post("/oauth2/token", headers=_auth(flow.service), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    _inactive(introspect(client, flow.service, tokens["refresh_token"]))
    assert introspect(client, flow.service,
                      rotated.get_json()["access_token"]).get_json()["active"] is True


def test_another_client_gets_inactive(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    _inactive(introspect(client, demo["services"][1], tokens["access_token"]))
    _inactive(introspect(client, demo["services"][1], tokens["refresh_token"]))
    _inactive(introspect(client, demo["auditors"][0], tokens["access_token"]))


def test_inactive_after_wallet_revocation(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    assert introspect(client, flow.service, tokens["access_token"]).get_json()["active"]
    revoke_in_wallet(client, tokens["consent_id"])
    _inactive(introspect(client, flow.service, tokens["access_token"]))
    _inactive(introspect(client, flow.service, tokens["refresh_token"]))


def test_inactive_after_consent_expiry(client, demo, broker):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    expire_consent(broker, tokens["consent_id"])
    _inactive(introspect(client, flow.service, tokens["access_token"]))


@pytest.mark.parametrize("token", ["sat_unknown", "x", "ж" * 30, "a" * 4000])
def test_unknown_token_is_inactive(client, demo, token):
    _inactive(introspect(client, demo["services"][0], token))


def test_auditor_token_introspection(client, demo):
    auditor = demo["auditors"][0]
    token = client.post("/oauth2/token", headers=_auth(auditor),
                        data={"grant_type": "client_credentials"}).get_json()["access_token"]
    body = introspect(client, auditor, token).get_json()
    assert body["active"] is True
    assert body["scope"] == "audit:read"
    assert "sub" not in body and "consent_id" not in body


def test_introspection_needs_client_authentication(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    response = client.post("/oauth2/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    wrong = client.post("/oauth2/introspect",
                        headers=basic(flow.service["client_id"], "wrong"),
                        data={"token": tokens["access_token"]})
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "invalid_client"
    bearer = client.post("/oauth2/introspect", headers=_bearer(tokens["access_token"]),
                         data={"token": tokens["access_token"]})
    assert bearer.status_code == 401


@pytest.mark.parametrize("client_id", ["kinder\x00gartens", "kindergartens%00", "детски"])
def test_odd_client_ids_are_401_not_500(client, demo, client_id):
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        response = client.post(path, headers=basic(client_id, "secret"), data={"token": "x"})
        assert response.status_code == 401, response.get_data(as_text=True)
        assert response.get_json()["error"] == "invalid_client"


def test_introspection_without_token_is_invalid_request(client, demo):
    response = client.post("/oauth2/introspect", headers=_auth(demo["services"][0]), data={})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_introspection_with_unknown_hint_still_finds_the_token(client, demo):
    """RFC 7662 §2.1: the hint is only a hint; never a 401 that blames the credentials."""
    _inactive(introspect(client, demo["services"][0], "abc", token_type_hint="id_token"))
    flow = _flow(client, demo)
    tokens = flow.tokens()
    body = introspect(client, flow.service, tokens["access_token"],
                      token_type_hint="id_token").get_json()
    assert body["active"] is True


@pytest.mark.parametrize("body", [b"token=%ff%fe", b"token=%ff&token_type_hint=%fe",
                                  b"\xff\xfe=\xff"])
def test_introspection_non_utf8_never_gives_500(client, demo, body):
    response = client.post("/oauth2/introspect", headers=_auth(demo["services"][0]),
                           data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500
    assert response.get_json() is not None


# --- revocation -------------------------------------------------------------------------------

def test_revoking_the_access_token_ends_data_access(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 200
    response = revoke(client, flow.service, tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    read = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    assert read.status_code == 401
    assert read.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in read.headers["WWW-Authenticate"]
    _inactive(introspect(client, flow.service, tokens["access_token"]))


def test_revoking_the_refresh_token_revokes_the_family(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    rotated = client.post("/oauth2/token", headers=_auth(flow.service), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).get_json()
    assert revoke(client, flow.service, rotated["refresh_token"],
                  token_type_hint="refresh_token").status_code == 200
    assert client.get(PERSON, headers=_bearer(rotated["access_token"])).status_code == 401
    refresh = client.post("/oauth2/token", headers=_auth(flow.service), data={
        "grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]})
    assert refresh.status_code == 400
    assert refresh.get_json()["error"] == "invalid_grant"


def test_revoking_another_clients_token_changes_nothing(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    for other in (demo["services"][1], demo["auditors"][0]):
        for token in (tokens["access_token"], tokens["refresh_token"]):
            response = revoke(client, other, token)
            assert response.status_code == 200
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 200
    assert introspect(client, flow.service, tokens["access_token"]).get_json()["active"]
    refresh = client.post("/oauth2/token", headers=_auth(flow.service), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 200


def test_revoking_an_unknown_token_is_200(client, demo):
    assert revoke(client, demo["services"][0], "sat_unknown").status_code == 200


def test_revoking_twice_is_200(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    assert revoke(client, flow.service, tokens["access_token"]).status_code == 200
    assert revoke(client, flow.service, tokens["access_token"]).status_code == 200


def test_revocation_needs_client_authentication(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    response = client.post("/oauth2/revoke", data={"token": tokens["access_token"]})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 200


def test_revocation_without_token_is_invalid_request(client, demo):
    response = client.post("/oauth2/revoke", headers=_auth(demo["services"][0]), data={})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_revocation_with_unsupported_hint(client, demo):
    response = revoke(client, demo["services"][0], "abc", token_type_hint="id_token")
    assert response.status_code == 400  # RFC 6749 §5.2; a 401 would blame the credentials
    assert response.get_json()["error"] == "unsupported_token_type"
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("body", [b"token=%ff%fe", b"token=%ff&token_type_hint=%fe",
                                  b"\xff\xfe=\xff"])
def test_revocation_non_utf8_never_gives_500(client, demo, body):
    response = client.post("/oauth2/revoke", headers=_auth(demo["services"][0]),
                           data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500


def test_oversized_revocation_body_is_413(client, demo):
    response = client.post("/oauth2/revoke", headers=_auth(demo["services"][0]),
                           data={"token": "x" * 70_000})
    assert response.status_code == 413
    assert response.get_json()["error"]
