"""RFC 9700 (OAuth 2.0 Security Best Current Practice), one test per requirement.

Each test is named by the section of RFC 9700 it covers and drives the behaviour end to end
through the Flask test client, on SQLite and PostgreSQL. docs/security.md is the map: its
RFC 9700 table has one row per test here, with the code that meets the requirement and the
detailed functional tests behind it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey
from requests_oauth2client import DPoPKey

from broker import create_app
from consent.catalogue import register_service
from tests.flows import Flow, basic, create_citizen, csrf_token, person_details

ISSUER = "http://localhost"
REDIRECT_URI = "http://127.0.0.1:9001/callback"
PERSON = "/api/v1/data/civil_registry/person"
HOUSEHOLD = "/api/v1/data/civil_registry/household"
METADATA = "/.well-known/oauth-authorization-server"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _flow(client: Any, demo: dict[str, Any], service: int = 0, **kwargs: Any) -> Flow:
    return Flow(client, demo["services"][service], demo["citizens"][0], **kwargs)


def _auth(service: dict[str, Any]) -> dict[str, str]:
    return basic(service["client_id"], service["client_secret"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"] == error, response.get_json()


def _query(response: Any) -> dict[str, list[str]]:
    """The query of a redirect back to the client's registered redirect URI."""
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    return parse_qs(urlsplit(response.headers["Location"]).query)


def _error_page(response: Any) -> None:
    """An HTML page, never a redirect: the client or its redirect URI is not trusted."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


def _refresh(client: Any, service: dict[str, Any], refresh_token: str,
             key: DPoPKey | None = None) -> Any:
    headers = _auth(service) | (_token_proof(key) if key else {})
    return client.post("/oauth2/token", headers=headers,
                       data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def _token_proof(key: DPoPKey) -> dict[str, str]:
    return {"DPoP": str(key.proof(htm="POST", htu=f"{ISSUER}/oauth2/token"))}


def _dpop(key: DPoPKey, token: str, path: str = PERSON, method: str = "GET") -> dict[str, str]:
    ath = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=")
    proof = key.proof(htm=method, htu=ISSUER + path, ath=ath.decode())
    return {"Authorization": f"DPoP {token}", "DPoP": str(proof)}


def _bound_tokens(flow: Flow, key: DPoPKey, **code_kwargs: Any) -> Any:
    """Redeem a fresh code of ``flow`` with a DPoP proof of ``key``."""
    code = flow.code(**code_kwargs)
    return flow.client.post("/oauth2/token", headers=_auth(flow.service) | _token_proof(key),
                            data={"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": REDIRECT_URI, "code_verifier": flow.verifier})


@contextmanager
def _fapi2_app(settings: Any) -> Iterator[Flask]:
    application = create_app({"settings": settings.with_overrides({"security_profile": "fapi2"}),
                              "TESTING": True})
    try:
        yield application
    finally:
        application.extensions["serdika"].db.dispose()


def _own_address(application: Flask) -> Any:
    """A test client from an address of its own: failed client authentications are counted
    per address, and must keep no other test out."""
    test_client = application.test_client()
    number = uuid.uuid4().int
    test_client.environ_base["REMOTE_ADDR"] = f"10.97.{number % 250}.{number // 250 % 250}"
    return test_client


# --- 2.1 -----------------------------------------------------------------------------------------

def test_2_1_exact_redirect_uri_matching_and_no_open_redirector(client, demo, broker):
    other_uri = "http://127.0.0.1:9555/other-callback"
    with broker.db.sessions() as session:
        register_service(session, name_bg="Друга", name_en="Other", organisation="Other",
                         redirect_uris=[other_uri], purposes=["kindergarten_enrolment"],
                         client_id="other-" + secrets.token_hex(4))
        session.commit()
    flow = _flow(client, demo)
    for uri in ("https://evil.example/callback", REDIRECT_URI + "/", REDIRECT_URI + "?x=1",
                REDIRECT_URI.upper(), "http://127.0.0.1:9002/callback", other_uri):
        _error_page(client.get(flow.authorize_query(redirect_uri=uri)))
    unknown = client.get(flow.authorize_query(client_id="no-such-client"))
    _error_page(unknown)
    assert "invalid_client" in unknown.get_data(as_text=True)
    # The registered URI, exactly, is where the answer goes.
    assert "code" in flow.decide()


def test_2_1_1_pkce_s256_is_required(client, demo):
    flow = _flow(client, demo)
    without = _query(client.get(flow.authorize_query(code_challenge=None)))
    assert without["error"] == ["invalid_request"] and "code" not in without
    assert without["state"] == [flow.state]  # the state goes back (CSRF on the redirect)
    code = flow.code()
    _error(flow.redeem(code, verifier=secrets.token_urlsafe(48)), 400, "invalid_grant")
    _error(flow.redeem(code), 400, "invalid_grant")  # a failed PKCE check spends the code
    flow = _flow(client, demo)
    missing = client.post("/oauth2/token", headers=_auth(flow.service), data={
        "grant_type": "authorization_code", "code": flow.code(), "redirect_uri": REDIRECT_URI})
    _error(missing, 400, "invalid_request")
    assert flow.redeem(flow.code()).status_code == 200


def test_2_1_2_no_implicit_grant(client, demo):
    flow = _flow(client, demo)
    for response_type in ("token", "code token", "id_token token"):
        response = client.get(flow.authorize_query(response_type=response_type))
        if response.status_code == 400:
            assert "unsupported_response_type" in response.get_data(as_text=True)
        else:
            query = _query(response)
            assert query["error"] == ["unsupported_response_type"]
            assert "access_token" not in query and "#" not in response.headers["Location"]
    assert client.get(METADATA).get_json()["response_types_supported"] == ["code"]


# --- 2.2 -----------------------------------------------------------------------------------------

def test_2_2_1_access_tokens_are_sender_constrained_with_dpop(app, client, demo, settings):
    key = DPoPKey.generate(alg="ES256")
    response = _bound_tokens(_flow(client, demo), key)
    assert response.status_code == 200, response.get_data(as_text=True)
    tokens = response.get_json()
    assert tokens["token_type"] == "DPoP"
    assert client.get(PERSON, headers=_dpop(key, tokens["access_token"])).status_code == 200
    stolen = client.get(PERSON, headers=_bearer(tokens["access_token"]))
    assert stolen.status_code == 401
    assert stolen.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    # Under fapi2 a token request without a proof is refused.
    with _fapi2_app(settings) as fapi2:
        fapi2.extensions["serdika.oauth"].client_auth_methods = ["client_secret_basic"]
        fapi2_client = fapi2.test_client()
        service = demo["services"][0]
        form = {"grant_type": "client_credentials"}
        _error(fapi2_client.post("/oauth2/token", headers=_auth(service), data=form),
               400, "invalid_dpop_proof")
        proven = fapi2_client.post("/oauth2/token", data=form,
                                   headers=_auth(service) | _token_proof(key))
        assert proven.status_code == 200, proven.get_data(as_text=True)
        assert proven.get_json()["token_type"] == "DPoP"


def test_2_2_2_refresh_tokens_rotate_and_reuse_revokes_the_family(client, demo):
    """Also RFC 9700 §4.14: rotation with reuse detection, and DPoP-bound refresh tokens."""
    flow = _flow(client, demo)
    tokens = flow.tokens()
    rotated = _refresh(client, flow.service, tokens["refresh_token"]).get_json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["consent_id"] == tokens["consent_id"]
    assert client.get(PERSON, headers=_bearer(rotated["access_token"])).status_code == 200
    _error(_refresh(client, flow.service, tokens["refresh_token"]), 400, "invalid_grant")
    assert client.get(PERSON, headers=_bearer(rotated["access_token"])).status_code == 401
    _error(_refresh(client, flow.service, rotated["refresh_token"]), 400, "invalid_grant")

    key = DPoPKey.generate(alg="ES256")
    bound = _bound_tokens(_flow(client, demo), key).get_json()
    service = demo["services"][0]
    _error(_refresh(client, service, bound["refresh_token"]), 400, "invalid_dpop_proof")
    _error(_refresh(client, service, bound["refresh_token"], DPoPKey.generate()),
           400, "invalid_grant")
    same = _refresh(client, service, bound["refresh_token"], key)
    assert same.status_code == 200 and same.get_json()["token_type"] == "DPoP"


# --- 2.3 - 2.6 -----------------------------------------------------------------------------------

def test_2_3_privileges_are_restricted_to_the_consent(client, demo):
    tokens = _flow(client, demo, details=person_details(["given_name"])).tokens()
    headers = _bearer(tokens["access_token"])
    assert client.get(PERSON + "?fields=given_name", headers=headers).status_code == 200
    for path in (PERSON + "?fields=given_name,national_id", HOUSEHOLD):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 403, refused.get_data(as_text=True)
        assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    auditor = demo["auditors"][0]
    audit_token = client.post("/oauth2/token", headers=_auth(auditor), data={
        "grant_type": "client_credentials"}).get_json()["access_token"]
    assert client.get(PERSON, headers=_bearer(audit_token)).status_code == 403


def test_2_4_no_resource_owner_password_credentials_grant(client, demo):
    citizen = demo["citizens"][0]
    response = client.post("/oauth2/token", headers=_auth(demo["services"][0]), data={
        "grant_type": "password", "username": citizen["username"],
        "password": citizen["password"]})
    _error(response, 400, "unsupported_grant_type")
    assert "password" not in client.get(METADATA).get_json()["grant_types_supported"]


def test_2_5_fapi2_takes_only_asymmetric_client_authentication(app, demo, broker, settings):
    signing = ECKey.generate_key("P-256", parameters={"kid": "rfc9700-key"})
    secret = "s3cret-" + secrets.token_hex(8)
    with broker.db.sessions() as session, broker.db.writing(session):
        with_secret, _ = register_service(
            session, name_bg="С таен ключ", name_en="Secret", organisation="Test",
            redirect_uris=[REDIRECT_URI], purposes=["kindergarten_enrolment"],
            client_id="secret-" + secrets.token_hex(4), client_secret=secret)
        with_key, _ = register_service(
            session, name_bg="С ключ", name_en="Keyed", organisation="Test",
            redirect_uris=[REDIRECT_URI], purposes=["kindergarten_enrolment"],
            client_id="keyed-" + secrets.token_hex(4),
            jwks={"keys": [signing.as_dict(private=False)]})
        secret_id, key_id = with_secret.client_id, with_key.client_id
    now = int(time.time())
    assertion = jwt.encode({"alg": "ES256", "kid": "rfc9700-key"},
                           {"iss": key_id, "sub": key_id, "aud": ISSUER,
                            "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}, signing)
    with _fapi2_app(settings) as fapi2:
        fapi2_client = _own_address(fapi2)
        meta = fapi2_client.get(METADATA).get_json()
        assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
        assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "EdDSA"]
        refused = fapi2_client.post("/oauth2/introspect", data={"token": "x"},
                                    headers=basic(secret_id, secret))
        assert refused.status_code in (400, 401)
        assert refused.get_json()["error"] == "invalid_client"
        taken = fapi2_client.post("/oauth2/introspect", data={
            "token": "x", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion})
        assert taken.status_code == 200, taken.get_data(as_text=True)
        assert taken.get_json() == {"active": False}


def test_2_6_authorization_server_metadata(client):
    meta = client.get(METADATA).get_json()
    assert meta["issuer"] == ISSUER
    for name, path in (("authorization_endpoint", "/oauth2/authorize"),
                       ("token_endpoint", "/oauth2/token"),
                       ("pushed_authorization_request_endpoint", "/oauth2/par")):
        assert meta[name] == ISSUER + path
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_2_6_no_cors_at_the_authorization_endpoint(client):
    for method in ("GET", "POST", "OPTIONS"):
        response = client.open("/oauth2/authorize?client_id=kindergartens", method=method,
                               headers={"Origin": "https://evil.example",
                                        "Access-Control-Request-Method": "POST"})
        assert not any(name.lower().startswith("access-control-allow-")
                       for name, _ in response.headers.items()), method


# --- 4.x -----------------------------------------------------------------------------------------

def test_4_2_no_credential_leakage_through_referer(client, demo):
    flow = _flow(client, demo)
    flow.sign_in()
    consent_page = client.get(flow.authorize_query())
    assert consent_page.status_code == 200
    for page in (client.get("/wallet/sign-in"), consent_page,
                 client.get(flow.authorize_query(client_id="no-such-client"))):
        assert page.headers["Referrer-Policy"] == "same-origin"
    # The page that leads to the code loads nothing from another origin.
    html = consent_page.get_data(as_text=True)
    assert 'src="http' not in html and "<script src=\"//" not in html


def test_4_3_2_no_tokens_in_urls(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    in_query = client.post(f"/oauth2/token?code={code}", headers=_auth(flow.service),
                           data={"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": REDIRECT_URI, "code_verifier": flow.verifier})
    _error(in_query, 400, "invalid_request")
    tokens = flow.redeem(code).get_json()  # the code was not spent by the refusal
    assert client.get(PERSON + "?access_token=" + tokens["access_token"]).status_code == 401
    for endpoint in ("/oauth2/introspect", "/oauth2/revoke"):
        response = client.post(f"{endpoint}?token={tokens['access_token']}",
                               data={"token": tokens["access_token"]},
                               headers=_auth(flow.service))
        _error(response, 400, "invalid_request")
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 200


def test_4_4_every_authorization_response_names_the_issuer(client, demo):
    allowed = _flow(client, demo).decide()
    assert allowed["iss"] == [ISSUER] and "code" in allowed
    assert _flow(client, demo).decide(decision="deny")["iss"] == [ISSUER]
    error = _query(client.get(_flow(client, demo).authorize_query(code_challenge=None)))
    assert error["error"] == ["invalid_request"] and error["iss"] == [ISSUER]


def test_4_5_code_injection_is_refused(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    other = demo["services"][1]
    stolen = client.post("/oauth2/token", headers=_auth(other), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier})
    _error(stolen, 400, "invalid_grant")
    tokens = flow.redeem(code).get_json()  # another client's attempt did not spend it
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 200
    _error(flow.redeem(code), 400, "invalid_grant")  # a replay revokes what the code issued
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 401
    # A code bound to a key with dpop_jkt (RFC 9449 §10) needs a proof of that key.
    key = DPoPKey.generate(alg="ES256")
    _error(_bound_tokens(_flow(client, demo), DPoPKey.generate(), dpop_jkt=key.dpop_jkt),
           400, "invalid_grant")
    assert _bound_tokens(_flow(client, demo), key, dpop_jkt=key.dpop_jkt).status_code == 200


def test_4_7_every_form_is_csrf_protected(app, client, demo, broker):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    url = flow.authorize_query()
    client.get(url)
    refused = client.post(url, data={"decision": "allow"})
    assert refused.status_code == 400 and "Location" not in refused.headers
    consent = f"/wallet/consents/{tokens['consent_id']}"
    client.get(consent)
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post(consent + "/revoke", data=data).status_code == 400
    assert client.get(PERSON, headers=_bearer(tokens["access_token"])).status_code == 200
    citizen = create_citizen(broker)
    stranger = app.test_client()
    stranger.get("/wallet/sign-in")
    for data in ({}, {"csrf_token": "forged"}):
        response = stranger.post("/wallet/sign-in", data={
            "username": citizen["username"], "password": citizen["password"], **data})
        assert response.status_code == 400 and "Location" not in response.headers
    page = stranger.get("/wallet/sign-in")
    assert stranger.post("/wallet/sign-in", data={
        "username": citizen["username"], "password": citizen["password"],
        "csrf_token": csrf_token(page.get_data(as_text=True))}).status_code == 302


def test_4_8_pkce_downgrade_is_refused(client, demo):
    flow = _flow(client, demo)
    for overrides in ({"code_challenge_method": "plain"}, {"code_challenge_method": None},
                      {"code_challenge_method": "plain", "code_challenge": flow.verifier}):
        query = _query(client.get(flow.authorize_query(**overrides)))
        assert query["error"] == ["invalid_request"] and "code" not in query
    assert client.get(METADATA).get_json()["code_challenge_methods_supported"] == ["S256"]


def test_4_10_a_stolen_access_token_is_useless_without_the_key(client, demo):
    key = DPoPKey.generate(alg="ES256")
    tokens = _bound_tokens(_flow(client, demo), key).get_json()
    token = tokens["access_token"]
    assert 0 < tokens["expires_in"] <= 300
    for headers in (_dpop(DPoPKey.generate(alg="EdDSA"), token),
                    _dpop(key, token, path="/api/v1/data/civil_registry/other"),
                    _dpop(key, token, method="POST")):
        assert client.get(PERSON, headers=headers).status_code == 401
    proof = _dpop(key, token)
    assert client.get(PERSON, headers=proof).status_code == 200
    replayed = client.get(PERSON, headers=proof)
    assert replayed.status_code == 401
    assert 'error="invalid_dpop_proof"' in replayed.headers["WWW-Authenticate"]


def test_4_12_a_post_is_answered_with_303_under_fapi2(app, demo, settings):
    with _fapi2_app(settings) as fapi2:
        # fapi2's rule on client authentication is §2.5's; the demo service keeps its secret.
        fapi2.extensions["serdika.oauth"].client_auth_methods = ["client_secret_basic"]
        flow = _flow(fapi2.test_client(), demo, pushed=True)
        flow.sign_in()
        url = flow.pushed_query()
        page = flow.client.get(url)
        html = page.get_data(as_text=True)
        form = {"csrf_token": csrf_token(html), "decision": "allow", "subject": "me"}
        answer = flow.client.post(url, data=form)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        assert "code" in _query(answer)


def test_4_13_forwarded_headers_count_only_from_trusted_proxies(client, settings):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    page = client.get("/wallet/sign-in", headers=forwarded)
    assert page.status_code == 200
    assert "Strict-Transport-Security" not in page.headers
    assert "evil.example" not in page.get_data(as_text=True)
    proxied = create_app({"settings": settings.with_overrides({"trusted_proxies": 1}),
                          "TESTING": True})
    try:
        behind = proxied.test_client().get("/wallet/sign-in",
                                           headers={"X-Forwarded-Proto": "https"})
        assert behind.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        proxied.extensions["serdika"].db.dispose()


def test_4_16_every_page_refuses_framing(client, demo):
    flow = _flow(client, demo)
    pages = [client.get("/wallet/sign-in"), client.get("/wallet/nowhere"),
             client.get(flow.authorize_query(client_id="no-such-client"))]
    flow.sign_in()
    pages += [client.get(flow.authorize_query()), client.get("/wallet/")]
    for page in pages:
        assert page.mimetype == "text/html", page.status
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
