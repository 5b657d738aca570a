"""The FAPI 2.0 Security Profile and its attack list, one test per row of docs/security.md
("FAPI 2.0 Security Profile" and "Attack tests"), each against an app under ``fapi2``.

The FAPI-grade client is the demo's ``kindergartens-fapi``: it pushes its requests, signs
``private_key_jwt`` assertions with its Ed25519 key and proves DPoP keys
(requests-oauth2client's ``DPoPKey``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, OKPKey
from requests_oauth2client import DPoPKey

from broker import create_app
from consent.catalogue import register_service
from tests.flows import REDIRECT_URI, Flow, basic, csrf_token

# RFC 9864 renames EdDSA on Ed25519 "Ed25519"; FAPI 2.0 and the metadata say "EdDSA".
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

ISSUER = "http://localhost"
TOKEN_URL = f"{ISSUER}/oauth2/token"
PERSON = "/api/v1/data/civil_registry/person"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FAPI_CLIENT = "kindergartens-fapi"


# --- helpers ------------------------------------------------------------------------------------

def _own_address(app: Flask) -> FlaskClient:
    """Refusals are failed authentications counted per address: keep them to this test."""
    test_client = app.test_client()
    number = uuid.uuid4().int
    test_client.environ_base["REMOTE_ADDR"] = f"10.91.{number % 250}.{number // 250 % 250}"
    return test_client


def _assertion(key: Any, client_id: str, *, alg: str | None = None, aud: str = ISSUER,
               lifetime: int = 60, jti: str | None = None) -> str:
    now = int(time.time())
    alg = alg or ("ES256" if isinstance(key, ECKey) else "EdDSA")
    header = {"alg": alg, "kid": key.kid or "k"}
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now,
              "exp": now + lifetime, "jti": jti or uuid.uuid4().hex}
    return jwt.encode(header, claims, key, algorithms=[alg])


def _auth(signed: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}


def _ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def _token_proof(key: DPoPKey) -> dict[str, str]:
    return {"DPoP": str(key.proof(htm="POST", htu=TOKEN_URL))}


def _dpop(key: DPoPKey, token: str, path: str = PERSON, method: str = "GET") -> dict[str, str]:
    return {"Authorization": f"DPoP {token}",
            "DPoP": str(key.proof(htm=method, htu=ISSUER + path, ath=_ath(token)))}


def _invalid_client(response: Any) -> str:
    assert response.status_code in (400, 401), response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_client"
    return str(response.get_json().get("error_description", ""))


def _refused(response: Any, error: str) -> str:
    """A refusal at a resource: 401 with the DPoP challenge (RFC 9449 §7.1)."""
    assert response.status_code == 401, response.get_data(as_text=True)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"'), challenge
    return challenge


def _error_page(response: Any, error: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert error in response.get_data(as_text=True)


def _new_client(broker: Any) -> tuple[str, Any]:
    """Another private_key_jwt service for the same purpose, with an ES256 key."""
    key = ECKey.generate_key("P-256", parameters={"kid": uuid.uuid4().hex[:12]})
    client_id = f"fapi-other-{uuid.uuid4().hex[:8]}"
    with broker.db.sessions() as session, broker.db.writing(session):
        register_service(session, name_bg=client_id, name_en=client_id, organisation="Test",
                         redirect_uris=[REDIRECT_URI], purposes=["kindergarten_enrolment"],
                         client_id=client_id, jwks={"keys": [key.as_dict(private=False)]})
    return client_id, key


@dataclass
class FapiFlow(Flow):
    """A flow of a FAPI client: pushed, ``private_key_jwt`` everywhere, DPoP at the token
    endpoint (``dpop`` None sends no proof)."""

    signing: Any = None
    dpop: DPoPKey | None = field(default_factory=lambda: DPoPKey.generate(alg="ES256"))
    pushed: bool = True

    def assertion(self, **kwargs: Any) -> dict[str, str]:
        return _auth(_assertion(self.signing, self.service["client_id"], **kwargs))

    def push(self, **overrides: Any) -> Any:
        return self.client.post("/oauth2/par",
                                data=self.authorize_params(**overrides) | self.assertion())

    def redeem(self, code: str, verifier: str | None = None, **extra: Any) -> Any:
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": REDIRECT_URI, "code_verifier": verifier or self.verifier,
                **extra}
        return self.client.post(
            "/oauth2/token", data={k: v for k, v in data.items() if v is not None}
            | self.assertion(), headers=_token_proof(self.dpop) if self.dpop else {})

    def refresh(self, refresh_token: str, key: DPoPKey | None) -> Any:
        return self.client.post(
            "/oauth2/token", headers=_token_proof(key) if key else {},
            data={"grant_type": "refresh_token", "refresh_token": refresh_token}
            | self.assertion())


@pytest.fixture
def fapi2_app(settings: Any, app: Flask) -> Iterator[Flask]:
    application = create_app({"settings": settings.with_overrides({"security_profile": "fapi2"}),
                              "TESTING": True})
    yield application
    application.extensions["serdika"].db.dispose()


@pytest.fixture
def fapi2(fapi2_app: Flask) -> FlaskClient:
    return _own_address(fapi2_app)


@pytest.fixture
def fapi_key(demo: dict[str, Any], broker: Any) -> Any:
    """The demo FAPI service's private key: its file, or derived as the seed derives it."""
    service = next(s for s in demo["services"] if s["client_id"] == FAPI_CLIENT)
    if service.get("private_key_file"):
        private = json.loads(Path(service["private_key_file"]).read_text())
    else:
        from demo.seed import demo_client_key
        private = demo_client_key(broker.keys.secret_key, FAPI_CLIENT)
    return OKPKey.import_key(private)


@pytest.fixture
def flow(fapi2: FlaskClient, demo: dict[str, Any], fapi_key: Any) -> FapiFlow:
    service = next(s for s in demo["services"] if s["client_id"] == FAPI_CLIENT)
    return FapiFlow(fapi2, service, demo["citizens"][0], signing=fapi_key)


# --- FAPI 2.0 Security Profile ------------------------------------------------------------------

def test_5_3_2_1_client_secrets_are_refused_and_private_key_jwt_works(fapi2, demo, flow):
    meta = fapi2.get("/.well-known/oauth-authorization-server").get_json()
    for endpoint in ("token", "introspection", "revocation"):
        assert meta[f"{endpoint}_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    secret = basic(demo["services"][0]["client_id"], demo["services"][0]["client_secret"])
    for path, data in (("/oauth2/token", {"grant_type": "client_credentials",
                                          "scope": "grant_management_query"}),
                       ("/oauth2/par", flow.authorize_params()),
                       ("/oauth2/introspect", {"token": "x"})):
        # An address of its own for each refusal: other tests fail this client's secret too,
        # and an address that failed for an account failing elsewhere waits (consent.failures).
        assert "does not accept client secrets" in _invalid_client(
            _own_address(fapi2.application).post(path, headers=secret, data=data))
    introspected = fapi2.post("/oauth2/introspect", data={"token": "x", **flow.assertion()})
    assert introspected.status_code == 200 and introspected.get_json() == {"active": False}
    assert flow.push().status_code == 201


def test_5_3_2_1_client_assertions_need_the_issuer_audience_a_single_use_jti_and_short_exp(
        fapi2, flow):
    def introspect(signed: dict[str, str]) -> Any:
        return fapi2.post("/oauth2/introspect", data={"token": "x", **signed})

    _invalid_client(introspect(flow.assertion(aud="https://elsewhere.example")))
    assert "too long" in _invalid_client(introspect(flow.assertion(lifetime=3600)))
    _invalid_client(introspect(flow.assertion(lifetime=-300)))
    jti = uuid.uuid4().hex
    assert introspect(flow.assertion(jti=jti)).status_code == 200
    assert "used" in _invalid_client(introspect(flow.assertion(jti=jti)))


def test_5_3_2_2_pushed_requests_are_required_and_request_uri_is_single_use(fapi2, flow, broker):
    meta = fapi2.get("/.well-known/oauth-authorization-server").get_json()
    assert meta["require_pushed_authorization_requests"] is True
    flow.sign_in()
    _error_page(fapi2.get(flow.authorize_query()), "invalid_request")
    pushed = flow.push()
    assert pushed.status_code == 201, pushed.get_data(as_text=True)
    assert pushed.get_json()["expires_in"] == broker.settings.par_ttl < 600
    flow.withdraw_standing()
    url = "/oauth2/authorize?" + urlencode({"client_id": FAPI_CLIENT,
                                            "request_uri": pushed.get_json()["request_uri"]})
    page = fapi2.get(url).get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "decision": "allow", "subject": "me"}
    assert fapi2.post(url, data=form).status_code == 303
    _error_page(fapi2.get(url), "invalid_request_uri")
    _error_page(fapi2.post(url, data=form), "invalid_request_uri")


def test_5_3_2_2_only_the_code_flow_with_pkce_s256(flow):
    for overrides, error in (({"code_challenge_method": "plain"}, "invalid_request"),
                             ({"code_challenge": None}, "invalid_request"),
                             ({"response_type": "token"}, "unsupported_response_type")):
        response = flow.push(**overrides)
        assert response.status_code == 400 and response.get_json()["error"] == error
    code = flow.code()
    wrong = flow.redeem(code, verifier="x" * 64)
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"


def test_5_3_2_2_the_authorization_response_names_the_issuer(flow, demo, fapi_key):
    allowed = flow.decide()
    assert allowed["iss"] == [ISSUER] and "code" in allowed
    denied = FapiFlow(flow.client, flow.service, flow.citizen, signing=fapi_key).decide("deny")
    assert denied["iss"] == [ISSUER] and denied["error"] == ["access_denied"]


def test_5_3_2_2_tokens_are_dpop_bound(flow):
    tokens = flow.tokens()
    assert tokens["token_type"] == "DPoP"
    read = flow.client.get(PERSON, headers=_dpop(flow.dpop, tokens["access_token"]))
    assert read.status_code == 200, read.get_data(as_text=True)
    flow.dpop = None
    without = flow.redeem(flow.code())
    assert without.status_code == 400 and without.get_json()["error"] == "invalid_dpop_proof"
    assert "DPoP is required" in without.get_json()["error_description"]


def test_5_3_2_2_refresh_tokens_are_bound_like_the_access_tokens(flow):
    tokens = flow.tokens()
    without = flow.refresh(tokens["refresh_token"], None)
    assert without.status_code == 400 and without.get_json()["error"] == "invalid_dpop_proof"
    other = flow.refresh(tokens["refresh_token"], DPoPKey.generate(alg="EdDSA"))
    assert other.status_code == 400 and other.get_json()["error"] == "invalid_grant"
    same = flow.refresh(tokens["refresh_token"], flow.dpop)
    assert same.status_code == 200, same.get_data(as_text=True)
    assert same.get_json()["token_type"] == "DPoP"


def test_5_3_2_2_303_after_post_and_no_cors_at_the_authorization_endpoint(flow, fapi2):
    assert flow.code()  # Flow.decide asserts the 303 under fapi2
    for method in ("GET", "OPTIONS"):
        response = fapi2.open(f"/oauth2/authorize?client_id={FAPI_CLIENT}", method=method,
                              headers={"Origin": "https://evil.example",
                                       "Access-Control-Request-Method": "POST"})
        assert not any(name.lower().startswith("access-control-allow-")
                       for name, _ in response.headers.items())


def test_5_4_only_es256_and_eddsa(fapi2, flow):
    meta = fapi2.get("/.well-known/oauth-authorization-server").get_json()
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    hs256 = _assertion(OctKey.generate_key(256), FAPI_CLIENT, alg="HS256")
    assert "ES256 or EdDSA" in _invalid_client(
        fapi2.post("/oauth2/introspect", data={"token": "x", **_auth(hs256)}))
    flow.dpop = DPoPKey.generate(alg="PS256")
    refused = flow.redeem(flow.code())
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_dpop_proof"


def test_5_3_3_resource_server_needs_the_token_hash_and_refuses_replays_on_every_node(
        flow, settings):
    token = flow.tokens()["access_token"]
    no_ath = {"Authorization": f"DPoP {token}",
              "DPoP": str(flow.dpop.proof(htm="GET", htu=ISSUER + PERSON))}
    _refused(flow.client.get(PERSON, headers=no_ath), "invalid_dpop_proof")
    headers = _dpop(flow.dpop, token)
    assert flow.client.get(PERSON, headers=headers).status_code == 200
    node = create_app({"settings": settings.with_overrides({"security_profile": "fapi2"}),
                       "TESTING": True})
    try:
        _refused(node.test_client().get(PERSON, headers=headers), "invalid_dpop_proof")
    finally:
        node.extensions["serdika"].db.dispose()


# --- attacks ------------------------------------------------------------------------------------

def test_attack_stolen_access_token_without_the_key(flow):
    token = flow.tokens()["access_token"]
    _refused(flow.client.get(PERSON, headers={"Authorization": f"Bearer {token}"}),
             "invalid_token")
    _refused(flow.client.get(PERSON, headers=_dpop(DPoPKey.generate(alg="EdDSA"), token)),
             "invalid_token")


def test_attack_replayed_dpop_proof_on_another_node(flow, settings):
    token = flow.tokens()["access_token"]
    headers = _dpop(flow.dpop, token)
    assert flow.client.get(PERSON, headers=headers).status_code == 200
    assert "used already" in _refused(flow.client.get(PERSON, headers=headers),
                                      "invalid_dpop_proof")
    node = create_app({"settings": settings.with_overrides({"security_profile": "fapi2"}),
                       "TESTING": True})
    try:
        other = node.test_client()
        _refused(other.get(PERSON, headers=headers), "invalid_dpop_proof")
        fresh = _dpop(flow.dpop, token)
        assert other.get(PERSON, headers=fresh).status_code == 200
        _refused(flow.client.get(PERSON, headers=fresh), "invalid_dpop_proof")
    finally:
        node.extensions["serdika"].db.dispose()


def test_attack_proof_for_another_url_or_method(flow):
    token = flow.tokens()["access_token"]
    for path, method in (("/api/v1/data/civil_registry/other", "GET"), (PERSON, "POST")):
        headers = _dpop(flow.dpop, token, path=path, method=method)
        _refused(flow.client.get(PERSON, headers=headers), "invalid_dpop_proof")


def test_attack_replayed_client_assertion(fapi2, flow, settings):
    signed = flow.assertion()
    assert fapi2.post("/oauth2/introspect", data={"token": "x", **signed}).status_code == 200
    assert "used" in _invalid_client(fapi2.post("/oauth2/par",
                                                data=flow.authorize_params() | signed))
    node = create_app({"settings": settings.with_overrides({"security_profile": "fapi2"}),
                       "TESTING": True})
    try:
        _invalid_client(_own_address(node).post("/oauth2/introspect",
                                                data={"token": "x", **signed}))
    finally:
        node.extensions["serdika"].db.dispose()


def test_attack_request_uri_reuse(fapi2, flow, demo):
    flow.withdraw_standing()
    flow.sign_in()
    url = flow.pushed_query()
    request_uri = parse_qs(urlsplit(url).query)["request_uri"][0]
    # Another client cannot use it, and its try does not spend it.
    other = demo["services"][1]["client_id"]
    _error_page(fapi2.get("/oauth2/authorize?" + urlencode(
        {"client_id": other, "request_uri": request_uri})), "invalid_request_uri")
    page = fapi2.get(url).get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "decision": "allow", "subject": "me"}
    assert fapi2.post(url, data=form).status_code == 303
    _error_page(fapi2.post(url, data=form), "invalid_request_uri")


def test_attack_unpushed_request_under_fapi2(fapi2, flow):
    flow.sign_in()
    refused = fapi2.get(flow.authorize_query())
    _error_page(refused, "invalid_request")
    assert "Pushed authorization requests are required" in refused.get_data(as_text=True)
    # Nor is an answer posted to the unpushed request taken.
    form = {"csrf_token": csrf_token(fapi2.get("/wallet/sign-in").get_data(as_text=True)),
            "decision": "allow", "subject": "me"}
    posted = fapi2.post(flow.authorize_query(), data=form)
    _error_page(posted, "invalid_request")
    assert "Pushed authorization requests are required" in posted.get_data(as_text=True)


def test_attack_mix_up_iss(fapi2, flow):
    meta = fapi2.get("/.well-known/oauth-authorization-server").get_json()
    assert meta["issuer"] == ISSUER
    assert meta["authorization_response_iss_parameter_supported"] is True
    query = flow.decide()
    assert query["iss"] == [meta["issuer"]]


def test_attack_code_injection(flow, broker, fapi_key):
    # A code redeemed by another client.
    other_id, other_key = _new_client(broker)
    code = flow.code()
    stolen = flow.client.post("/oauth2/token", headers=_token_proof(DPoPKey.generate()), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier, **_auth(_assertion(other_key, other_id))})
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"
    # A code bound to the client's DPoP key (dpop_jkt), redeemed with the attacker's key.
    bound = FapiFlow(flow.client, flow.service, flow.citizen, signing=fapi_key)
    code = bound.code(dpop_jkt=bound.dpop.dpop_jkt)
    owner = bound.dpop
    bound.dpop = DPoPKey.generate(alg="EdDSA")
    injected = bound.redeem(code)
    assert injected.status_code == 400 and injected.get_json()["error"] == "invalid_grant"
    bound.dpop = owner
    rightful = bound.redeem(bound.code(dpop_jkt=owner.dpop_jkt))
    assert rightful.status_code == 200 and rightful.get_json()["token_type"] == "DPoP"


def test_attack_grant_queried_or_deleted_by_another_client(flow, broker):
    grant_id = flow.tokens()["grant_id"]
    other_id, other_key = _new_client(broker)
    key = DPoPKey.generate()
    issued = flow.client.post("/oauth2/token", headers=_token_proof(key), data={
        "grant_type": "client_credentials",
        "scope": "grant_management_query grant_management_revoke",
        **_auth(_assertion(other_key, other_id))})
    assert issued.status_code == 200, issued.get_data(as_text=True)
    token = issued.get_json()["access_token"]
    path = f"/oauth2/grants/{grant_id}"
    assert flow.client.get(path, headers=_dpop(key, token, path)).status_code == 404
    assert flow.client.delete(path, headers=_dpop(key, token, path, "DELETE")).status_code == 404
    # The grant stands: its own client still sees it.
    own = DPoPKey.generate()
    mine = flow.client.post("/oauth2/token", headers=_token_proof(own), data={
        "grant_type": "client_credentials", "scope": "grant_management_query",
        **flow.assertion()})
    assert mine.status_code == 200, mine.get_data(as_text=True)
    seen = flow.client.get(path, headers=_dpop(own, mine.get_json()["access_token"], path))
    assert seen.status_code == 200, seen.get_data(as_text=True)
