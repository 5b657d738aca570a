"""RFC 8414 authorization server metadata and the broker's JWKS."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

METADATA = "/.well-known/oauth-authorization-server"


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def test_metadata_document(client):
    response = client.get(METADATA)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    meta = response.get_json()
    issuer = meta["issuer"]
    assert issuer == "http://localhost"
    for name, path in (("authorization_endpoint", "/oauth2/authorize"),
                       ("token_endpoint", "/oauth2/token"),
                       ("introspection_endpoint", "/oauth2/introspect"),
                       ("revocation_endpoint", "/oauth2/revoke"),
                       ("jwks_uri", "/oauth2/jwks")):
        assert meta[name] == issuer + path
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "personal_data" in meta["authorization_details_types_supported"]
    assert meta["response_types_supported"] == ["code"]
    grants = set(meta["grant_types_supported"])
    assert grants == {"authorization_code", "refresh_token", "client_credentials"}
    assert not grants & {"implicit", "password"}
    assert "token" not in meta["response_types_supported"]
    for endpoint in ("token", "introspection", "revocation"):
        assert meta[f"{endpoint}_endpoint_auth_methods_supported"] == [
            "client_secret_basic", "private_key_jwt"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert "none" not in meta["token_endpoint_auth_methods_supported"]
    assert "audit:read" in meta["scopes_supported"]


def test_advertised_endpoints_exist(client):
    meta = client.get(METADATA).get_json()
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        path = meta[name].removeprefix(meta["issuer"])
        response = client.post(path, data={})
        assert response.status_code in (400, 401), (name, response.status_code)
    jwks_path = meta["jwks_uri"].removeprefix(meta["issuer"])
    assert client.get(jwks_path).status_code == 200


def test_advertised_settings_match_behaviour(client, demo):
    """What the document says is refused is refused."""
    service = demo["services"][0]
    from tests.flows import Flow

    flow = Flow(client, service, demo["citizens"][0])
    plain = client.get(flow.authorize_query(code_challenge_method="plain"))
    assert plain.status_code == 302
    assert "error=invalid_request" in plain.headers["Location"]


def test_jwks_has_one_public_ed25519_key(client):
    response = client.get("/oauth2/jwks")
    assert response.status_code == 200
    assert response.mimetype == "application/jwk-set+json"
    keys = response.get_json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert key["kid"]
        assert "d" not in key
        assert not {"p", "q", "dp", "dq", "qi", "k"} & set(key)
        raw = _b64url(key["x"])
        assert len(raw) == 32
        Ed25519PublicKey.from_public_bytes(raw)
        if "use" in key:
            assert key["use"] == "sig"
        if "alg" in key:
            assert key["alg"] in ("EdDSA", "Ed25519")


def test_jwks_key_id_matches_the_tree_head(client):
    kids = {key["kid"] for key in client.get("/oauth2/jwks").get_json()["keys"]}
    head = client.get("/api/v1/audit/tree-head")
    if head.status_code == 200:
        assert head.get_json()["key_id"] in kids


def test_metadata_is_read_only(client):
    response = client.post(METADATA)
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    jwks = client.post("/oauth2/jwks")
    assert jwks.status_code == 405
