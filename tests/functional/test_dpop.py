"""DPoP (RFC 9449) end to end: bound tokens from the token endpoint, ``cnf.jkt`` in
introspection, the data and audit APIs with ``Authorization: DPoP``, replays on any node,
refresh with the same key, server nonces, and the fapi2 profile.

Proofs are made by a real client library (requests-oauth2client's ``DPoPKey``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from requests_oauth2client import DPoPKey
from sqlalchemy import select

from broker import create_app
from broker.oauth.models import Token
from consent.crypto import token_hash
from tests.flows import REDIRECT_URI, Flow, basic

ISSUER = "http://localhost"
TOKEN_URL = f"{ISSUER}/oauth2/token"
PERSON = "/api/v1/data/civil_registry/person"


def _ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def _token_proof(key: DPoPKey, nonce: str | None = None) -> dict[str, str]:
    return {"DPoP": str(key.proof(htm="POST", htu=TOKEN_URL, nonce=nonce))}


def _dpop(key: DPoPKey, token: str, path: str = PERSON, method: str = "GET",
          nonce: str | None = None) -> dict[str, str]:
    """``Authorization: DPoP`` with a proof for ``method`` and ``path`` (RFC 9449 §7)."""
    proof = key.proof(htm=method, htu=ISSUER + path, ath=_ath(token), nonce=nonce)
    return {"Authorization": f"DPoP {token}", "DPoP": str(proof)}


def _flow(client: Any, demo: dict[str, Any]) -> Flow:
    return Flow(client, demo["services"][0], demo["citizens"][0])


def _redeem(flow: Flow, key: DPoPKey | None, code: str | None = None) -> Any:
    form = {"grant_type": "authorization_code", "code": code or flow.code(),
            "redirect_uri": REDIRECT_URI, "code_verifier": flow.verifier}
    headers = basic(flow.service["client_id"], flow.service["client_secret"])
    if key is not None:
        headers |= _token_proof(key)
    return flow.client.post("/oauth2/token", data=form, headers=headers)


def _bound_tokens(client: Any, demo: dict[str, Any], key: DPoPKey) -> dict[str, Any]:
    flow = _flow(client, demo)
    response = _redeem(flow, key)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _refresh(client: Any, demo: dict[str, Any], refresh_token: str,
             key: DPoPKey | None) -> Any:
    service = demo["services"][0]
    headers = basic(service["client_id"], service["client_secret"])
    if key is not None:
        headers |= _token_proof(key)
    return client.post("/oauth2/token", headers=headers,
                       data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def _refused(response: Any, error: str) -> str:
    assert response.status_code == 401, response.get_data(as_text=True)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"'), challenge
    assert 'algs="ES256 EdDSA"' in challenge
    assert response.get_json()["error"] == error
    return challenge


@pytest.fixture
def key() -> DPoPKey:
    return DPoPKey.generate(alg="ES256")


# --- the token endpoint -----------------------------------------------------------------------

def test_metadata_names_the_proof_algorithms(client):
    document = client.get("/.well-known/oauth-authorization-server").get_json()
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]


def test_a_token_request_with_a_proof_gets_bound_dpop_tokens(client, demo, broker, key):
    tokens = _bound_tokens(client, demo, key)
    assert tokens["token_type"] == "DPoP"
    with broker.db.sessions() as session:
        row = session.scalar(select(Token).where(
            Token.access_token_hash == token_hash(tokens["access_token"])))
        assert row is not None
        assert row.jkt == key.dpop_jkt
        assert row.refresh_token_hash == token_hash(tokens["refresh_token"])


def test_a_code_bound_with_dpop_jkt_is_redeemed_only_with_a_proof_of_that_key(client, demo, key):
    """RFC 9449 §10: the authorization request names the key; so must the token request."""
    other = DPoPKey.generate(alg="EdDSA")
    for proof_key, error in ((other, "invalid_grant"), (None, "invalid_dpop_proof")):
        flow = _flow(client, demo)
        refused = _redeem(flow, proof_key, flow.code(dpop_jkt=key.dpop_jkt))
        assert refused.status_code == 400 and refused.get_json()["error"] == error
    flow = _flow(client, demo)
    bound = _redeem(flow, key, flow.code(dpop_jkt=key.dpop_jkt))
    assert bound.status_code == 200 and bound.get_json()["token_type"] == "DPoP"


def test_a_proof_sent_with_the_push_binds_the_code_to_its_key(client, demo, key):
    """RFC 9449 §10.1: a DPoP proof at the PAR endpoint binds the code like dpop_jkt."""
    def pushed(proof_key: DPoPKey) -> Flow:
        proof = proof_key.proof(htm="POST", htu=f"{ISSUER}/oauth2/par")
        return Flow(client, demo["services"][0], demo["citizens"][0], pushed=True,
                    push_headers={"DPoP": str(proof)})

    flow = pushed(key)
    refused = _redeem(flow, DPoPKey.generate(alg="EdDSA"))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    flow = pushed(key)
    bound = _redeem(flow, key)
    assert bound.status_code == 200 and bound.get_json()["token_type"] == "DPoP"
    # dpop_jkt naming another key than the push's proof is refused at the push.
    other = pushed(key).push(dpop_jkt=DPoPKey.generate(alg="ES256").dpop_jkt)
    assert other.status_code == 400 and other.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("jkt", ["short", "x" * 44, "a+b/" * 11])
def test_a_malformed_dpop_jkt_goes_back_as_invalid_request(client, demo, jkt):
    flow = _flow(client, demo)
    flow.sign_in()
    response = client.get(flow.authorize_query(dpop_jkt=jkt))
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["Location"]


def test_without_a_proof_the_baseline_keeps_bearer_tokens(client, demo, broker):
    tokens = _flow(client, demo).tokens()
    assert tokens["token_type"] == "Bearer"
    with broker.db.sessions() as session:
        row = session.scalar(select(Token).where(
            Token.access_token_hash == token_hash(tokens["access_token"])))
        assert row is not None and row.jkt is None


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_both_algorithms_bind(client, demo, alg):
    key = DPoPKey.generate(alg=alg)
    tokens = _bound_tokens(client, demo, key)
    assert tokens["token_type"] == "DPoP"
    response = client.get(PERSON, headers=_dpop(key, tokens["access_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_bad_proof_at_the_token_endpoint_is_400_invalid_dpop_proof(client, demo, key):
    flow = _flow(client, demo)
    code = flow.code()
    headers = basic(flow.service["client_id"], flow.service["client_secret"])
    headers["DPoP"] = str(key.proof(htm="POST", htu=f"{ISSUER}/oauth2/elsewhere"))
    response = client.post("/oauth2/token", headers=headers, data={
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": REDIRECT_URI, "code_verifier": flow.verifier})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_dpop_proof"
    assert response.headers["Cache-Control"] == "no-store"


def test_client_credentials_tokens_are_bound_and_the_audit_api_takes_dpop(client, demo, key):
    auditor = demo["auditors"][0]
    response = client.post("/oauth2/token",
                           data={"grant_type": "client_credentials", "scope": "audit:read"},
                           headers=basic(auditor["client_id"], auditor["client_secret"])
                           | _token_proof(key))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "DPoP"
    path = "/api/v1/audit/entries?start=0&end=0"
    ok = client.get(path, headers=_dpop(key, body["access_token"], path.split("?")[0]))
    assert ok.status_code == 200, ok.get_data(as_text=True)
    as_bearer = client.get(path, headers={"Authorization": f"Bearer {body['access_token']}"})
    _refused(as_bearer, "invalid_token")
    another = DPoPKey.generate()
    _refused(client.get(path, headers=_dpop(another, body["access_token"], path.split("?")[0])),
             "invalid_token")


# --- introspection ----------------------------------------------------------------------------

def test_introspection_names_the_bound_key(client, demo, key):
    tokens = _bound_tokens(client, demo, key)
    service = demo["services"][0]
    for token, kind in ((tokens["access_token"], "DPoP"), (tokens["refresh_token"], None)):
        body = client.post("/oauth2/introspect", data={"token": token},
                           headers=basic(service["client_id"], service["client_secret"])
                           ).get_json()
        assert body["active"] is True
        assert body["cnf"] == {"jkt": key.dpop_jkt}
        if kind:
            assert body["token_type"] == kind
    bearer = _flow(client, demo).tokens()
    body = client.post("/oauth2/introspect", data={"token": bearer["access_token"]},
                       headers=basic(service["client_id"], service["client_secret"])).get_json()
    assert body["active"] is True and "cnf" not in body


# --- the data API -----------------------------------------------------------------------------

def test_a_data_read_with_the_dpop_scheme(client, demo, key):
    tokens = _bound_tokens(client, demo, key)
    response = client.get(PERSON, headers=_dpop(key, tokens["access_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["consent_id"] == tokens["consent_id"]


def test_a_bound_token_as_a_bearer_token_is_refused_with_the_dpop_challenge(client, demo, key):
    tokens = _bound_tokens(client, demo, key)
    response = client.get(PERSON, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    _refused(response, "invalid_token")


def test_a_bearer_token_with_the_dpop_scheme_is_refused(client, demo, key):
    tokens = _flow(client, demo).tokens()
    _refused(client.get(PERSON, headers=_dpop(key, tokens["access_token"])), "invalid_token")


def test_a_proof_of_another_key_is_refused(client, demo, key):
    tokens = _bound_tokens(client, demo, key)
    other = DPoPKey.generate(alg="EdDSA")
    _refused(client.get(PERSON, headers=_dpop(other, tokens["access_token"])), "invalid_token")


@pytest.mark.parametrize(("path", "method"), [
    ("/api/v1/data/civil_registry/other", "GET"),
    (PERSON, "POST"),
])
def test_a_proof_for_another_url_or_method_is_refused(client, demo, key, path, method):
    tokens = _bound_tokens(client, demo, key)
    headers = _dpop(key, tokens["access_token"], path=path, method=method)
    _refused(client.get(PERSON, headers=headers), "invalid_dpop_proof")


def test_a_proof_without_the_token_hash_or_for_another_token_is_refused(client, demo, key):
    tokens = _bound_tokens(client, demo, key)
    headers = {"Authorization": f"DPoP {tokens['access_token']}",
               "DPoP": str(key.proof(htm="GET", htu=ISSUER + PERSON))}
    _refused(client.get(PERSON, headers=headers), "invalid_dpop_proof")
    headers["DPoP"] = str(key.proof(htm="GET", htu=ISSUER + PERSON, ath=_ath("sat_other")))
    _refused(client.get(PERSON, headers=headers), "invalid_dpop_proof")
    no_proof = {"Authorization": f"DPoP {tokens['access_token']}"}
    _refused(client.get(PERSON, headers=no_proof), "invalid_dpop_proof")


def test_a_replayed_proof_is_refused(client, demo, key):
    tokens = _bound_tokens(client, demo, key)
    headers = _dpop(key, tokens["access_token"])
    assert client.get(PERSON, headers=headers).status_code == 200
    challenge = _refused(client.get(PERSON, headers=headers), "invalid_dpop_proof")
    assert "used already" in challenge


@pytest.fixture
def second_node(settings: Any) -> Iterator[Flask]:
    """Another broker on the same database: another node behind the load balancer."""
    node = create_app({"settings": settings, "TESTING": True})
    yield node
    node.extensions["serdika"].db.dispose()


def test_a_replayed_proof_is_refused_on_another_node(client, demo, key, second_node):
    tokens = _bound_tokens(client, demo, key)
    headers = _dpop(key, tokens["access_token"])
    assert client.get(PERSON, headers=headers).status_code == 200
    other = second_node.test_client()
    _refused(other.get(PERSON, headers=headers), "invalid_dpop_proof")
    # and the other way round, at the token endpoint too
    fresh = _dpop(key, tokens["access_token"])
    assert other.get(PERSON, headers=fresh).status_code == 200
    _refused(client.get(PERSON, headers=fresh), "invalid_dpop_proof")


def test_a_replayed_proof_at_the_token_endpoint_is_refused(client, demo, key, second_node):
    tokens = _bound_tokens(client, demo, key)
    proof = _token_proof(key)
    service = demo["services"][0]
    first = second_node.test_client().post(
        "/oauth2/token", headers=basic(service["client_id"], service["client_secret"]) | proof,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200, first.get_data(as_text=True)
    again = client.post(
        "/oauth2/token", headers=basic(service["client_id"], service["client_secret"]) | proof,
        data={"grant_type": "refresh_token", "refresh_token": first.get_json()["refresh_token"]})
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_dpop_proof"


# --- refresh ----------------------------------------------------------------------------------

def test_a_refresh_of_bound_tokens_needs_a_proof_of_the_same_key(client, demo, key):
    tokens = _bound_tokens(client, demo, key)
    without = _refresh(client, demo, tokens["refresh_token"], None)
    assert without.status_code == 400
    assert without.get_json()["error"] == "invalid_dpop_proof"
    other = _refresh(client, demo, tokens["refresh_token"], DPoPKey.generate())
    assert other.status_code == 400
    assert other.get_json()["error"] == "invalid_grant"
    # Neither spent the refresh token: the holder of the key still refreshes.
    same = _refresh(client, demo, tokens["refresh_token"], key)
    assert same.status_code == 200, same.get_data(as_text=True)
    renewed = same.get_json()
    assert renewed["token_type"] == "DPoP"
    response = client.get(PERSON, headers=_dpop(key, renewed["access_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)


# --- server nonces ----------------------------------------------------------------------------

@pytest.fixture
def nonce_node(settings: Any) -> Iterator[Flask]:
    node = create_app({"settings": settings.with_overrides({"dpop_nonce_required": True}),
                       "TESTING": True})
    yield node
    node.extensions["serdika"].db.dispose()


def test_the_nonce_flow(demo, nonce_node, key):
    client = nonce_node.test_client()
    flow = _flow(client, demo)
    code = flow.code()
    first = _redeem(flow, key, code)
    assert first.status_code == 400
    assert first.get_json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    # The code was not spent by the refusal: the client retries with the nonce.
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": REDIRECT_URI, "code_verifier": flow.verifier}
    retried = client.post("/oauth2/token", data=form,
                          headers=basic(flow.service["client_id"], flow.service["client_secret"])
                          | _token_proof(key, nonce))
    assert retried.status_code == 200, retried.get_data(as_text=True)
    token = retried.get_json()["access_token"]
    refused = client.get(PERSON, headers=_dpop(key, token))
    _refused(refused, "use_dpop_nonce")
    resource_nonce = refused.headers["DPoP-Nonce"]
    assert client.get(PERSON, headers=_dpop(key, token, nonce=resource_nonce)).status_code == 200
    made_up = client.get(PERSON, headers=_dpop(key, token, nonce="made-up"))
    _refused(made_up, "use_dpop_nonce")


# --- the fapi2 profile ------------------------------------------------------------------------

@pytest.fixture
def fapi2_node(settings: Any) -> Iterator[Flask]:
    node = create_app({"settings": settings.with_overrides({"security_profile": "fapi2"}),
                       "TESTING": True})
    yield node
    node.extensions["serdika"].db.dispose()


@pytest.fixture
def fapi_auditor(broker: Any) -> tuple[str, Any]:
    """An auditor that authenticates with private_key_jwt (FAPI 2.0 §5.3.2.1)."""
    from joserfc.jwk import ECKey

    from consent.catalogue import register_service
    from consent.models import ServiceKind

    signing = ECKey.generate_key("P-256", parameters={"kid": "auditor-key", "alg": "ES256"})
    with broker.db.sessions() as session, broker.db.writing(session):
        service, _ = register_service(
            session, name_bg="Одитор", name_en="Auditor", organisation="КЗЛД",
            redirect_uris=[], purposes=[], kind=ServiceKind.AUDITOR, scope="audit:read",
            jwks={"keys": [signing.as_dict(private=False)]})
        client_id = service.client_id
    return client_id, signing


def _client_assertion(client_id: str, signing: Any) -> dict[str, str]:
    import time
    import uuid

    from joserfc import jwt

    now = int(time.time())
    assertion = jwt.encode({"alg": "ES256", "kid": "auditor-key"},
                           {"iss": client_id, "sub": client_id, "aud": ISSUER,
                            "jti": str(uuid.uuid4()), "iat": now, "exp": now + 60}, signing)
    return {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}


def test_fapi2_refuses_a_token_request_without_a_proof(fapi2_node, fapi_auditor, key):
    client_id, signing = fapi_auditor
    client = fapi2_node.test_client()
    form = {"grant_type": "client_credentials", "scope": "audit:read"}
    without = client.post("/oauth2/token", data=form | _client_assertion(client_id, signing))
    assert without.status_code == 400, without.get_data(as_text=True)
    assert without.get_json()["error"] == "invalid_dpop_proof"
    assert "DPoP is required" in without.get_json()["error_description"]
    proven = client.post("/oauth2/token", data=form | _client_assertion(client_id, signing),
                         headers=_token_proof(key))
    assert proven.status_code == 200, proven.get_data(as_text=True)
    assert proven.get_json()["token_type"] == "DPoP"


# --- the store of used proofs -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["dpop", "client_assertion"])
def test_used_jtis_are_single_use_purged_when_expired_and_odd_ones_stored(broker, kind):
    from datetime import timedelta

    from broker.oauth.models import UsedJti
    from broker.oauth.used_jtis import UsedJtis
    from consent.types import utcnow

    used = UsedJtis(broker.db, kind)
    owner = secrets.token_hex(8)
    assert used.spend(owner, "old", utcnow() - timedelta(hours=1))
    used.purge_every = 1
    assert used.spend(owner, "\ud800 lone surrogate", utcnow() + timedelta(minutes=1))
    assert not used.spend(owner, "\ud800 lone surrogate", utcnow() + timedelta(minutes=1))
    assert used.spend("another owner", "\ud800 lone surrogate", utcnow() + timedelta(minutes=1))
    with broker.db.sessions() as session:
        left = session.scalars(select(UsedJti.expires_at).where(UsedJti.kind == kind)).all()
    assert all(until > utcnow() - timedelta(seconds=5) for until in left)
