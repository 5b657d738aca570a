"""The token endpoint: codes, PKCE, refresh rotation, client credentials, hostile input."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from broker.oauth.models import AuthorizationCode, Token
from consent.crypto import token_hash
from consent.types import utcnow
from tests.flows import REDIRECT_URI, Flow, basic, expire_consent, pkce_pair, revoke_in_wallet

PERSON = "/api/v1/data/civil_registry/person"


def _flow(client: Any, demo: dict[str, Any], service: int = 0, citizen: int = 0,
          **kwargs: Any) -> Flow:
    return Flow(client, demo["services"][service], demo["citizens"][citizen], **kwargs)


def _auth(service: dict[str, Any]) -> dict[str, str]:
    return basic(service["client_id"], service["client_secret"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error, body
    assert response.headers.get("Cache-Control") == "no-store"
    return body


def _refresh(client: Any, service: dict[str, Any], refresh_token: str) -> Any:
    return client.post("/oauth2/token", headers=_auth(service),
                       data={"grant_type": "refresh_token", "refresh_token": refresh_token})


# --- a good exchange --------------------------------------------------------------------------

def test_token_response_shape_and_headers(client, demo):
    flow = _flow(client, demo)
    response = flow.redeem(flow.code())
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"] and body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    assert 0 < body["expires_in"] <= 300
    assert body["consent_id"].startswith("cns_")
    [detail] = body["authorization_details"]
    assert detail == {
        "type": "personal_data", "connector": "civil_registry", "resource": "person",
        "fields": ["given_name", "family_name", "birth_date", "address"],
        "actions": ["read"], "purpose": "kindergarten_enrolment", "duration": "P90D",
    }


def test_tokens_are_stored_hashed(client, demo, broker):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    with broker.db.sessions() as session:
        row = session.scalar(select(Token).where(
            Token.access_token_hash == token_hash(tokens["access_token"])))
        assert row is not None
        assert row.refresh_token_hash == token_hash(tokens["refresh_token"])
        assert tokens["access_token"].encode() not in (row.access_token_hash or b"")


# --- PKCE at the token endpoint ---------------------------------------------------------------

def test_wrong_verifier_is_invalid_grant(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    other_verifier, _ = pkce_pair()
    _oauth_error(flow.redeem(code, verifier=other_verifier), 400, "invalid_grant")
    # the code is spent even though PKCE failed: the right verifier is too late now
    _oauth_error(flow.redeem(code), 400, "invalid_grant")


def test_missing_verifier_is_invalid_request(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    response = client.post("/oauth2/token", headers=_auth(flow.service), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
    _oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "bad verifier with spaces" * 3])
def test_malformed_verifier_is_refused(client, demo, verifier):
    flow = _flow(client, demo)
    response = flow.redeem(flow.code(), verifier=verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_request", "invalid_grant")


# --- client authentication --------------------------------------------------------------------

def test_unknown_client_is_401_invalid_client(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    response = client.post("/oauth2/token", headers=basic("no-such-client", "secret"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier})
    _oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    # the code was not touched: its client can still redeem it
    assert flow.redeem(code).status_code == 200


def test_wrong_secret_is_401_invalid_client(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    response = client.post("/oauth2/token", headers=basic(flow.service["client_id"], "wrong"),
                           data={"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": REDIRECT_URI,
                                 "code_verifier": flow.verifier})
    _oauth_error(response, 401, "invalid_client")
    assert "WWW-Authenticate" in response.headers


def test_no_client_authentication_is_401(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    response = client.post("/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier, "client_id": flow.service["client_id"]})
    _oauth_error(response, 401, "invalid_client")


def test_client_secret_post_is_not_accepted(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    response = client.post("/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier, "client_id": flow.service["client_id"],
        "client_secret": flow.service["client_secret"]})
    _oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize("header", [
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "Basic " + base64.b64encode(b":").decode(),
    "Basic",
    "Bearer abc",
    "Basic " + base64.b64encode(b"kindergartens:" + b"x" * 5000).decode(),
    "Basic " + base64.b64encode(b"kinder\x00gartens:secret").decode(),
    "Basic " + base64.b64encode(b"kindergartens%00:secret").decode(),
    "Basic " + base64.b64encode("детски:градини".encode()).decode(),
    "Basic " + base64.b64encode(b"x" * 5000 + b":secret").decode(),
])
def test_malformed_basic_auth_is_401_not_500(client, demo, header):
    response = client.post("/oauth2/token", headers={"Authorization": header},
                           data={"grant_type": "client_credentials"})
    _oauth_error(response, 401, "invalid_client")


# --- codes: single use, short-lived, bound to their client ------------------------------------

def test_code_replay_is_refused_and_revokes_the_first_tokens(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    first = flow.redeem(code)
    assert first.status_code == 200
    tokens = first.get_json()
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 200

    _oauth_error(flow.redeem(code), 400, "invalid_grant")

    read = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    assert read.status_code == 401
    assert read.get_json()["error"] == "invalid_token"
    _oauth_error(_refresh(client, flow.service, tokens["refresh_token"]), 400, "invalid_grant")


def test_code_replay_also_revokes_tokens_refreshed_from_it(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    tokens = flow.redeem(code).get_json()
    refreshed = _refresh(client, flow.service, tokens["refresh_token"])
    assert refreshed.status_code == 200
    newer = refreshed.get_json()
    _oauth_error(flow.redeem(code), 400, "invalid_grant")
    assert client.get(PERSON, headers=_bearer(newer["access_token"])).status_code == 401
    _oauth_error(_refresh(client, flow.service, newer["refresh_token"]), 400, "invalid_grant")


def test_expired_code_is_invalid_grant(client, demo, broker):
    flow = _flow(client, demo)
    code = flow.code()
    with broker.db.sessions() as session:
        session.execute(update(AuthorizationCode)
                        .where(AuthorizationCode.code_hash == token_hash(code))
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    _oauth_error(flow.redeem(code), 400, "invalid_grant")


def test_code_of_another_client_is_invalid_grant(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    other = demo["services"][1]
    response = client.post("/oauth2/token", headers=_auth(other), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier})
    _oauth_error(response, 400, "invalid_grant")


def test_unknown_code_is_invalid_grant(client, demo):
    flow = _flow(client, demo)
    _oauth_error(flow.redeem("not-a-code"), 400, "invalid_grant")


def test_missing_code_is_invalid_request(client, demo):
    flow = _flow(client, demo)
    response = client.post("/oauth2/token", headers=_auth(flow.service), data={
        "grant_type": "authorization_code", "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier})
    _oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("redirect_uri", ["http://localhost:9001/callback",
                                          "https://evil.example/cb", None])
def test_redirect_uri_must_match_the_authorization_request(client, demo, redirect_uri):
    flow = _flow(client, demo)
    code = flow.code()
    response = flow.redeem(code, redirect_uri=redirect_uri)
    if redirect_uri is None:  # Flow.redeem drops None values: the parameter is missing
        response = client.post("/oauth2/token", headers=_auth(flow.service), data={
            "grant_type": "authorization_code", "code": code,
            "code_verifier": flow.verifier})
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_grant", "invalid_request")


def test_code_after_consent_revoked_is_invalid_grant(client, demo):
    flow = _flow(client, demo)
    query = flow.decide()
    code = query["code"][0]
    home = client.get("/wallet/")
    assert home.status_code == 200
    with client.application.app_context():
        broker = client.application.extensions["serdika"]
        with broker.db.sessions() as session:
            consent_id = session.scalar(select(AuthorizationCode.consent_id).where(
                AuthorizationCode.code_hash == token_hash(code)))
    revoke_in_wallet(client, consent_id)
    _oauth_error(flow.redeem(code), 400, "invalid_grant")


def test_concurrent_redemptions_exactly_one_wins(app, demo):
    flow = _flow(app.test_client(), demo)
    code = flow.code()
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def redeem() -> None:
        own = app.test_client()
        barrier.wait()
        response = own.post("/oauth2/token", headers=_auth(flow.service), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier})
        with lock:
            results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 400], results
    loser = next(body for status, body in results if status == 400)
    assert loser["error"] == "invalid_grant"


# --- refresh tokens ---------------------------------------------------------------------------

def test_refresh_rotates(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    response = _refresh(client, flow.service, tokens["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    new = response.get_json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    assert new["consent_id"] == tokens["consent_id"]
    assert new["authorization_details"] == tokens["authorization_details"]
    assert client.get(PERSON, headers=_bearer(new["access_token"])).status_code == 200
    third = _refresh(client, flow.service, new["refresh_token"])
    assert third.status_code == 200


def test_refresh_reuse_revokes_the_family(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    new = _refresh(client, flow.service, tokens["refresh_token"]).get_json()
    assert client.get(PERSON, headers=_bearer(new["access_token"])).status_code == 200

    _oauth_error(_refresh(client, flow.service, tokens["refresh_token"]), 400, "invalid_grant")

    read = client.get(PERSON, headers=_bearer(new["access_token"]))
    assert read.status_code == 401
    _oauth_error(_refresh(client, flow.service, new["refresh_token"]), 400, "invalid_grant")


def test_refresh_after_consent_revoked_is_invalid_grant(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    revoke_in_wallet(client, tokens["consent_id"])
    _oauth_error(_refresh(client, flow.service, tokens["refresh_token"]), 400, "invalid_grant")


def test_refresh_after_consent_expired_is_invalid_grant(client, demo, broker):

    flow = _flow(client, demo)
    tokens = flow.tokens()
    expire_consent(broker, tokens["consent_id"])
    _oauth_error(_refresh(client, flow.service, tokens["refresh_token"]), 400, "invalid_grant")


def test_refresh_token_of_another_client_is_invalid_grant(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    _oauth_error(_refresh(client, demo["services"][1], tokens["refresh_token"]), 400,
                 "invalid_grant")
    # and the owner's refresh token still works
    assert _refresh(client, flow.service, tokens["refresh_token"]).status_code == 200


def test_access_token_is_not_a_refresh_token(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    _oauth_error(_refresh(client, flow.service, tokens["access_token"]), 400, "invalid_grant")


def test_missing_refresh_token_is_invalid_request(client, demo):
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]),
                           data={"grant_type": "refresh_token"})
    _oauth_error(response, 400, "invalid_request")


def test_refresh_with_wider_scope_is_refused(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    response = client.post("/oauth2/token", headers=_auth(flow.service), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "scope": "audit:read"})
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_scope", "invalid_grant")


# --- grant types ------------------------------------------------------------------------------

def test_password_grant_is_unsupported(client, demo):
    citizen = demo["citizens"][0]
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]), data={
        "grant_type": "password", "username": citizen["username"],
        "password": citizen["password"]})
    _oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize("grant_type", ["implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                        "", "AUTHORIZATION_CODE", "кодът", 'x"\\'])
def test_unknown_grant_types_are_unsupported(client, demo, grant_type):
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]),
                           data={"grant_type": grant_type})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] in ("unsupported_grant_type", "invalid_request")


def test_missing_grant_type_is_refused(client, demo):
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]), data={})
    assert response.status_code == 400
    assert response.get_json()["error"] in ("unsupported_grant_type", "invalid_request")


def test_implicit_response_type_is_unsupported(client, demo):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(response_type="token"))
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "error=unsupported_response_type" in response.headers["Location"]
        assert "access_token" not in response.headers["Location"]
    else:
        assert "unsupported_response_type" in response.get_data(as_text=True)


def test_client_credentials_for_the_auditor(client, demo):
    auditor = demo["auditors"][0]
    response = client.post("/oauth2/token", headers=_auth(auditor),
                           data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["scope"] == "audit:read"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert "refresh_token" not in body
    assert "consent_id" not in body


def test_client_credentials_with_explicit_scope(client, demo):
    auditor = demo["auditors"][0]
    response = client.post("/oauth2/token", headers=_auth(auditor),
                           data={"grant_type": "client_credentials", "scope": "audit:read"})
    assert response.status_code == 200
    assert response.get_json()["scope"] == "audit:read"


@pytest.mark.parametrize("scope", ["audit:write", "audit:read civil_registry.person:read"])
def test_client_credentials_with_other_scope_is_invalid_scope(client, demo, scope):
    auditor = demo["auditors"][0]
    response = client.post("/oauth2/token", headers=_auth(auditor),
                           data={"grant_type": "client_credentials", "scope": scope})
    _oauth_error(response, 400, "invalid_scope")


def test_auditor_token_cannot_read_personal_data(client, demo):
    auditor = demo["auditors"][0]
    token = client.post("/oauth2/token", headers=_auth(auditor),
                        data={"grant_type": "client_credentials"}).get_json()["access_token"]
    read = client.get(PERSON, headers=_bearer(token))
    assert read.status_code == 403
    assert read.mimetype == "application/problem+json"


def test_client_credentials_give_a_service_only_its_housekeeping_scope(client, demo):
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]),
                           data={"grant_type": "client_credentials"})
    assert response.status_code == 200
    token = response.get_json()
    assert token["scope"] == "erasure:manage"
    assert "refresh_token" not in token and "consent_id" not in token
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    # Neither personal data nor the audit log come with it.
    assert client.get("/api/v1/data/civil_registry/person", headers=headers).status_code == 403
    assert client.get("/api/v1/audit/entries", headers=headers).status_code == 403


@pytest.mark.parametrize("scope", ["audit:read", "erasure:manage audit:read", "openid"])
def test_a_service_cannot_ask_for_an_auditor_scope(client, demo, scope):
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]),
                           data={"grant_type": "client_credentials", "scope": scope})
    _oauth_error(response, 400, "invalid_scope")


def test_auditor_cannot_redeem_codes(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    response = client.post("/oauth2/token", headers=_auth(demo["auditors"][0]), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier})
    _oauth_error(response, 400, "unauthorized_client")
    assert flow.redeem(code).status_code == 200


# --- hostile input ----------------------------------------------------------------------------

def test_oversized_body_is_413_json(client, demo):
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]),
                           data={"grant_type": "authorization_code", "code": "x" * 70_000})
    assert response.status_code == 413, response.get_data(as_text=True)
    assert response.mimetype in ("application/json", "application/problem+json")
    assert response.get_json()["error"]


def test_oversized_raw_body_is_413_json(client, demo):
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]),
                           data=b"a" * (65 * 1024),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.get_json()["error"]


@pytest.mark.parametrize("body", [
    b"grant_type=%ff%fe&code=%c3%28",
    b"grant_type=authorization_code&code=%ff%fe&redirect_uri=%c3%28&code_verifier=%ff",
    b"grant_type=refresh_token&refresh_token=%ff%00%fe",
    b"grant_type=client_credentials&scope=%ff%fe",
    b"\xff\xfe\xfd=\xff",
    b"grant_type=authorization_code&code=\x00",
])
def test_non_utf8_form_never_gives_500(client, demo, body):
    for headers in (_auth(demo["services"][0]), _auth(demo["auditors"][0])):
        response = client.post("/oauth2/token", headers=headers, data=body,
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code < 500, response.get_data(as_text=True)
        assert response.get_json()["error"]


def test_json_body_is_not_a_form(client, demo):
    response = client.post("/oauth2/token", headers=_auth(demo["auditors"][0]),
                           json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_duplicate_parameters_are_invalid_request(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    response = client.post("/oauth2/token", headers=_auth(flow.service),
                           data=f"grant_type=authorization_code&code={code}&code={code}"
                                f"&redirect_uri={REDIRECT_URI}&code_verifier={flow.verifier}",
                           content_type="application/x-www-form-urlencoded")
    _oauth_error(response, 400, "invalid_request")


def test_get_on_the_token_endpoint_is_405_json(client, demo):
    response = client.get("/oauth2/token?grant_type=client_credentials")
    assert response.status_code == 405
    assert response.get_json()["error"]
