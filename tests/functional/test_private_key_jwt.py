"""``private_key_jwt`` client authentication (RFC 7523 §2.2, §3; FAPI 2.0 §5.3.2.1, §5.4.1):
signed client assertions at the token, introspection and revocation endpoints, their
refusals, keys from a ``jwks_uri`` that rotate, the fapi2 profile without shared secrets,
registration from the CLI and the demo's FAPI-grade service.
"""

from __future__ import annotations

import base64
import json
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, OKPKey

from broker import create_app
from broker.oauth.client_assertions import ServiceKeys
from consent.catalogue import register_service
from tests.flows import basic

# RFC 9864 renames EdDSA on Ed25519 "Ed25519"; FAPI 2.0 and the metadata say "EdDSA".
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PURPOSE = "kindergarten_enrolment"
REDIRECT = "http://127.0.0.1:9001/callback"


def from_own_address(app: Flask) -> FlaskClient:
    """A test client from an address of its own: the refusals here are failed authentications,
    counted per address (consent.failures), and must not block other tests."""
    test_client = app.test_client()
    number = uuid.uuid4().int
    test_client.environ_base["REMOTE_ADDR"] = f"10.77.{number % 250}.{number // 250 % 250}"
    return test_client


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return from_own_address(app)


def new_key(alg: str, kid: str | None = None) -> Any:
    key = ECKey.generate_key("P-256") if alg == "ES256" else OKPKey.generate_key("Ed25519")
    key.kid_value = kid or uuid.uuid4().hex[:12]
    return key


def public_jwk(key: Any) -> dict[str, Any]:
    return key.as_dict(private=False, kid=key.kid_value)


def register(app: Flask, *, keys: list[Any] | None = None, jwks_uri: str | None = None,
             secret: bool = False) -> str:
    """A new service; with ``keys`` (inline JWKS) or ``jwks_uri`` it uses private_key_jwt."""
    broker = app.extensions["serdika"]
    client_id = f"pkj-{uuid.uuid4().hex[:10]}"
    with app.app_context(), broker.db.sessions() as session:
        register_service(
            session, name_bg=client_id, name_en=client_id, organisation="Test",
            redirect_uris=[REDIRECT], purposes=[PURPOSE], client_id=client_id,
            client_secret="s3cret-" + client_id if secret else None,
            jwks={"keys": [public_jwk(key) for key in keys]} if keys else None,
            jwks_uri=jwks_uri,
        )
        session.commit()
    return client_id


def assertion(key: Any, client_id: str, *, alg: str | None = None, aud: str = "http://localhost",
              lifetime: int = 60, iat: int | None = None, jti: str | None = None,
              kid: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    alg = alg or ("ES256" if isinstance(key, ECKey) else "EdDSA")
    header = {"alg": alg, "kid": kid or getattr(key, "kid_value", "k")}
    payload = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now if iat is None else iat,
               "exp": now + lifetime, "jti": jti or uuid.uuid4().hex, **claims}
    return jwt.encode(header, payload, key, algorithms=[alg])


def auth(signed: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}


def token(client: FlaskClient, signed: str) -> Any:
    return client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "scope": "erasure:manage", **auth(signed)})


def refused(response: Any) -> str:
    assert response.status_code in (400, 401), (response.status_code, response.get_data())
    body = response.get_json()
    assert body["error"] == "invalid_client", body
    return str(body.get("error_description", ""))


# --- the method at every endpoint --------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_assertion_authenticates_at_token_introspection_and_revocation(
        app: Flask, client: FlaskClient, demo: Any, alg: str) -> None:
    key = new_key(alg)
    client_id = register(app, keys=[key])

    response = token(client, assertion(key, client_id))
    assert response.status_code == 200, response.get_json()
    access = response.get_json()["access_token"]

    # The token endpoint URL is accepted as audience too (RFC 7523 §3).
    introspected = client.post("/oauth2/introspect", data={
        "token": access, **auth(assertion(key, client_id, aud="http://localhost/oauth2/token"))})
    assert introspected.status_code == 200, introspected.get_json()
    assert introspected.get_json()["active"] is True
    assert introspected.get_json()["client_id"] == client_id

    revoked = client.post("/oauth2/revoke", data={"token": access,
                                                  **auth(assertion(key, client_id))})
    assert revoked.status_code == 200, revoked.get_data()
    again = client.post("/oauth2/introspect", data={"token": access,
                                                    **auth(assertion(key, client_id))})
    assert again.get_json() == {"active": False}


def test_a_private_key_jwt_client_cannot_use_a_secret_nor_a_secret_client_an_assertion(
        app: Flask, client: FlaskClient, demo: Any) -> None:
    key = new_key("ES256")
    client_id = register(app, keys=[key])
    # Whatever secret it tries, Basic is not its method.
    refused(client.post("/oauth2/token", headers=basic(client_id, "guess"),
                        data={"grant_type": "client_credentials", "scope": "erasure:manage"}))

    secret_client = register(app, secret=True)
    refused(token(client, assertion(key, secret_client)))
    ok = client.post("/oauth2/token", headers=basic(secret_client, "s3cret-" + secret_client),
                     data={"grant_type": "client_credentials", "scope": "erasure:manage"})
    assert ok.status_code == 200


# --- refusals ----------------------------------------------------------------------------------

def _none_alg(client_id: str) -> str:
    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    now = int(time.time())
    return (b64({"alg": "none"}) + "." + b64({"iss": client_id, "sub": client_id,
            "aud": "http://localhost", "exp": now + 60, "jti": uuid.uuid4().hex}) + ".")


@pytest.mark.parametrize("case", [
    "wrong_aud", "introspection_aud", "expired", "long_lived", "long_lived_by_iat", "no_exp",
    "no_jti", "iss_is_not_sub", "hs256", "none", "unknown_key", "another_clients_key",
    "wrong_signature",
])
def test_bad_assertions_are_refused(app: Flask, client: FlaskClient, demo: Any,
                                    case: str) -> None:
    key = new_key("ES256")
    client_id = register(app, keys=[key])
    other_key = new_key("EdDSA")
    register(app, keys=[other_key])
    now = int(time.time())
    signed = {
        "wrong_aud": lambda: assertion(key, client_id, aud="https://elsewhere.example"),
        "introspection_aud": lambda: assertion(key, client_id,
                                               aud="http://localhost/oauth2/introspect"),
        "expired": lambda: assertion(key, client_id, iat=now - 600, lifetime=-300),
        "long_lived": lambda: assertion(key, client_id, lifetime=3600),
        "long_lived_by_iat": lambda: assertion(key, client_id, iat=now - 3000, lifetime=200),
        "no_exp": lambda: jwt.encode({"alg": "ES256", "kid": key.kid_value}, {
            "iss": client_id, "sub": client_id, "aud": "http://localhost",
            "jti": uuid.uuid4().hex}, key, algorithms=["ES256"]),
        "no_jti": lambda: jwt.encode({"alg": "ES256", "kid": key.kid_value}, {
            "iss": client_id, "sub": client_id, "aud": "http://localhost",
            "exp": now + 60}, key, algorithms=["ES256"]),
        "iss_is_not_sub": lambda: assertion(key, client_id, iss="someone-else"),
        "hs256": lambda: assertion(OctKey.generate_key(256), client_id, alg="HS256"),
        "none": lambda: _none_alg(client_id),
        "unknown_key": lambda: assertion(new_key("ES256"), client_id),
        # The other client's own key and kid, claiming to be this client.
        "another_clients_key": lambda: assertion(other_key, client_id),
        # This client's kid, signed by a stranger's key.
        "wrong_signature": lambda: assertion(new_key("ES256"), client_id, kid=key.kid_value),
    }[case]()
    description = refused(token(client, signed))
    assert description and "Traceback" not in description
    if case == "hs256":
        assert "ES256 or EdDSA" in description
    if case.startswith("long_lived"):
        assert "too long" in description
    # Refused the same way at introspection and revocation.
    refused(client.post("/oauth2/introspect", data={"token": "x", **auth(signed)}))
    refused(client.post("/oauth2/revoke", data={"token": "x", **auth(signed)}))


def test_a_jti_is_single_use_on_every_app_instance(app: Flask, client: FlaskClient,
                                                   demo: Any, settings: Any) -> None:
    key = new_key("EdDSA")
    client_id = register(app, keys=[key])
    signed = assertion(key, client_id)
    assert token(client, signed).status_code == 200
    assert "used" in refused(token(client, signed))
    # Replayed at another endpoint of the same node.
    refused(client.post("/oauth2/introspect", data={"token": "x", **auth(signed)}))

    # A second node on the same database: the jti is spent there too, in both directions.
    other = create_app({"settings": settings, "TESTING": True})
    try:
        other_client = from_own_address(other)
        refused(token(other_client, signed))
        fresh = assertion(key, client_id)
        assert other_client.post("/oauth2/introspect",
                                 data={"token": "x", **auth(fresh)}).status_code == 200
        refused(client.post("/oauth2/introspect", data={"token": "x", **auth(fresh)}))
    finally:
        other.extensions["serdika"].db.dispose()


# --- keys at a jwks_uri --------------------------------------------------------------------------

def test_keys_from_a_jwks_uri_rotate_after_one_refetch(
        app: Flask, client: FlaskClient, demo: Any, httpserver: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = f"/jwks-{uuid.uuid4().hex[:8]}"
    old, new = new_key("ES256"), new_key("EdDSA")
    httpserver.expect_request(path).respond_with_json({"keys": [public_jwk(old)]})
    client_id = register(app, jwks_uri=httpserver.url_for(path))

    def fetches() -> int:
        return sum(1 for request, _ in httpserver.log if request.path == path)

    assert token(client, assertion(old, client_id)).status_code == 200
    assert token(client, assertion(old, client_id)).status_code == 200
    assert fetches() == 1, "kept per worker, not fetched on every request"

    # The client rotates: its jwks_uri now has the new key only.
    httpserver.clear_all_handlers()
    httpserver.expect_request(path).respond_with_json({"keys": [public_jwk(new)]})
    # Right after a fetch an unknown kid is not fetched again (no fetch storm) ...
    refused(token(client, assertion(new, client_id)))
    assert fetches() == 1
    # ... once the re-fetch interval has passed, one re-fetch finds the new key.
    monkeypatch.setattr(ServiceKeys, "refetch_interval", 0.0)
    assert token(client, assertion(new, client_id)).status_code == 200
    assert fetches() == 2
    assert token(client, assertion(new, client_id)).status_code == 200
    assert fetches() == 2, "the new set is kept"
    # The old key is gone from the set: refused after (at most) one more fetch.
    refused(token(client, assertion(old, client_id)))
    assert fetches() == 3


def test_an_unreachable_or_bad_jwks_uri_refuses_without_a_500(
        app: Flask, client: FlaskClient, demo: Any, httpserver: Any) -> None:
    key = new_key("ES256")
    bad = f"/bad-{uuid.uuid4().hex[:8]}"
    private = key.as_dict(private=True, kid=key.kid_value)
    httpserver.expect_request(bad).respond_with_json({"keys": [private]})
    client_id = register(app, jwks_uri=httpserver.url_for(bad))
    refused(token(client, assertion(key, client_id)))   # a private key published: not used
    gone = register(app, jwks_uri="http://127.0.0.1:9/jwks")
    refused(token(client, assertion(key, gone)))


# --- the fapi2 profile -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fapi2_app(settings: Any) -> Any:
    application = create_app({"settings": settings.with_overrides({"security_profile": "fapi2"}),
                              "TESTING": True})
    yield application
    application.extensions["serdika"].db.dispose()


def test_fapi2_refuses_client_secrets_and_takes_private_key_jwt(
        app: Flask, fapi2_app: Flask, demo: Any) -> None:
    fapi2 = from_own_address(fapi2_app)
    meta = fapi2.get("/.well-known/oauth-authorization-server").get_json()
    for endpoint in ("token", "introspection", "revocation"):
        assert meta[f"{endpoint}_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "EdDSA"]

    # A client with a secret of its own (the demo's have failures counted by other tests).
    secret_client = register(app, secret=True)
    secret = basic(secret_client, "s3cret-" + secret_client)
    for path, data in (("/oauth2/token", {"grant_type": "client_credentials",
                                          "scope": "erasure:manage"}),
                       ("/oauth2/introspect", {"token": "x"}),
                       ("/oauth2/revoke", {"token": "x"})):
        description = refused(fapi2.post(path, headers=secret, data=data))
        assert "does not accept client secrets" in description
        assert "client_assertion" in description

    key = new_key("ES256")
    client_id = register(app, keys=[key])
    introspected = fapi2.post("/oauth2/introspect",
                              data={"token": "x", **auth(assertion(key, client_id))})
    assert introspected.status_code == 200 and introspected.get_json() == {"active": False}
    assert fapi2.post("/oauth2/revoke", data={
        "token": "x", **auth(assertion(key, client_id))}).status_code == 200
    issued = token(fapi2, assertion(key, client_id))
    # Authenticated: whatever else the profile asks of the request (a DPoP proof), the
    # client itself is not what is refused.
    assert issued.status_code == 200 or issued.get_json()["error"] != "invalid_client"


# --- registration from the CLI -------------------------------------------------------------------

def _cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_cli_registers_a_private_key_jwt_client_without_a_secret(
        app: Flask, client: FlaskClient, demo: Any, tmp_path: Path) -> None:
    key = new_key("EdDSA")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [public_jwk(key)]}))
    result = _cli(app, "service", "add", "--name", "Ключове", "--redirect-uri", REDIRECT,
                  "--purpose", PURPOSE, "--jwks-file", str(jwks_file), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["client_id"] and "client_secret" not in out
    assert out["token_endpoint_auth_method"] == "private_key_jwt"
    assert token(client, assertion(key, out["client_id"])).status_code == 200

    uri = _cli(app, "service", "add", "--name", "URI", "--redirect-uri", REDIRECT,
               "--purpose", PURPOSE, "--jwks-uri", "https://keys.example/jwks.json", "--json")
    assert uri.exit_code == 0, uri.output
    assert "client_secret" not in json.loads(uri.output)


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not a JSON file"),
    ('{"kty": "EC"}', "not a JWK Set"),
    ('{"keys": []}', "has no keys"),
    ("PRIVATE", "a private or symmetric key"),
    ("NO_KID", "needs a 'kid'"),
    ("RSA", "is not accepted"),
    ("BAD_POINT", "not a valid public key"),
])
def test_cli_refuses_a_bad_jwks_file_clearly(app: Flask, demo: Any, tmp_path: Path,
                                             content: str, message: str) -> None:
    key = new_key("ES256")
    jwk = public_jwk(key)
    documents = {
        "PRIVATE": {"keys": [key.as_dict(private=True, kid="k1")]},
        "NO_KID": {"keys": [{k: v for k, v in jwk.items() if k != "kid"}]},
        "RSA": {"keys": [{"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}]},
        "BAD_POINT": {"keys": [dict(jwk, y=jwk["x"])]},
    }
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(documents[content]) if content in documents else content)
    result = _cli(app, "service", "add", "--name", "X", "--redirect-uri", REDIRECT,
                  "--purpose", PURPOSE, "--jwks-file", str(jwks_file), "--json")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    if content == "PRIVATE":
        assert key.as_dict(private=True)["d"] not in result.output


@pytest.mark.parametrize(("uri", "message"), [
    ("http://keys.example/jwks", "must use https"),
    ("ftp://keys.example/jwks", "must use https"),
])
def test_cli_refuses_a_jwks_uri_without_https(app: Flask, demo: Any, uri: str,
                                              message: str) -> None:
    result = _cli(app, "service", "add", "--name", "X", "--redirect-uri", REDIRECT,
                  "--purpose", PURPOSE, "--jwks-uri", uri, "--json")
    assert result.exit_code == 2 and message in result.output, result.output


def test_jwks_uri_is_https_only_in_production() -> None:
    from consent.client_keys import InvalidClientKeys, check_jwks_uri

    assert check_jwks_uri("http://127.0.0.1:8080/jwks", production=False)
    with pytest.raises(InvalidClientKeys, match="must use https"):
        check_jwks_uri("http://127.0.0.1:8080/jwks", production=True)
    assert check_jwks_uri("https://keys.example/jwks", production=True)


# --- the demo ----------------------------------------------------------------------------------

def test_demo_seed_writes_the_fapi_service_key_under_var_and_it_authenticates(
        app: Flask, client: FlaskClient, demo: Any, settings: Any) -> None:
    result = _cli(app, "demo", "seed", "--json")
    assert result.exit_code == 0, result.output
    seeded = json.loads(result.output)
    fapi = next(s for s in seeded["services"] if s["client_id"] == "kindergartens-fapi")
    assert "client_secret" not in fapi
    assert fapi["purposes"] == ["kindergarten_enrolment"] and fapi["redirect_uris"]
    path = Path(fapi["private_key_file"])
    assert path.is_relative_to(settings.var_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The contract's fields of the other services are unchanged.
    assert all(s["client_secret"] for s in seeded["services"] if s is not fapi)
    # Idempotent: the same key and output again.
    assert json.loads(_cli(app, "demo", "seed", "--json").output) == seeded

    private = OKPKey.import_key(json.loads(path.read_text()))
    private.kid_value = fapi["kid"]
    assert private.is_private
    response = token(client, assertion(private, "kindergartens-fapi", alg=fapi["alg"]))
    assert response.status_code == 200, response.get_json()
    assert private.as_dict(private=True)["d"] not in result.output


# --- a real client library against the real server ---------------------------------------------

@pytest.fixture(scope="module")
def real_server(database_url: str, var_dir: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Any:
    """``serdika serve`` on this test session's database and var dir (the same keys, so the
    seeded demo is the one the other tests use)."""
    from tests.e2e.harness import RealServer

    base = tmp_path_factory.mktemp("pkj-e2e")
    server = RealServer(database_url=database_url, var_dir=var_dir,
                        log_path=base / "server.log", workers=1)
    with server.serving():
        yield server


@pytest.mark.e2e
def test_requests_oauth2client_authenticates_with_the_demo_private_key(real_server: Any) -> None:
    """requests-oauth2client signs its own assertions (EdDSA, the issuer as audience) with
    the key ``demo seed`` wrote: a token, its introspection and its revocation."""
    from jwskate import Jwk
    from requests_oauth2client import OAuth2Client, PrivateKeyJwt

    fapi = next(s for s in real_server.demo["services"] if s["client_id"] == "kindergartens-fapi")
    private = Jwk(json.loads(Path(fapi["private_key_file"]).read_text()))
    base = real_server.base_url
    oauth = OAuth2Client(
        token_endpoint=f"{base}/oauth2/token",
        introspection_endpoint=f"{base}/oauth2/introspect",
        revocation_endpoint=f"{base}/oauth2/revoke",
        auth=PrivateKeyJwt(fapi["client_id"], private, alg="EdDSA", aud=base),
        testing=True,  # the test server speaks plain http on loopback
    )
    issued = oauth.client_credentials(scope="erasure:manage")
    assert issued.access_token
    about = oauth.introspect_token(issued.access_token)
    assert about["active"] is True and about["client_id"] == "kindergartens-fapi"
    assert oauth.revoke_access_token(issued.access_token) is True
    assert oauth.introspect_token(issued.access_token) == {"active": False}


def test_assertion_authenticates_at_the_par_endpoint(app: Flask, client: FlaskClient,
                                                     demo: Any) -> None:
    """RFC 9126 §2: the PAR endpoint authenticates like the token endpoint, and accepts its
    own URL as audience too."""
    from tests.flows import person_details, pkce_pair

    key = new_key("ES256")
    client_id = register(app, keys=[key])
    _, challenge = pkce_pair()
    parameters = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                  "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
                  "authorization_details": json.dumps(person_details())}
    for audience in ("http://localhost", "http://localhost/oauth2/par"):
        pushed = client.post("/oauth2/par", data={
            **parameters, **auth(assertion(key, client_id, aud=audience))})
        assert pushed.status_code == 201, pushed.get_json()
        assert pushed.get_json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    refused(client.post("/oauth2/par", data={**parameters, **auth(
        assertion(new_key("ES256"), client_id))}))


def test_failed_assertions_are_counted_like_failed_secrets(app: Flask, client: FlaskClient,
                                                           demo: Any) -> None:
    """consent.failures: an address that keeps failing for one client waits (429), so a
    stream of bad assertions cannot make the broker verify (or fetch keys) without end."""
    key = new_key("ES256")
    client_id = register(app, keys=[key])
    statuses = [token(client, assertion(new_key("ES256"), client_id)).status_code
                for _ in range(6)]
    assert statuses[:5] == [400] * 5 and statuses[5] == 429
    # Another address is not kept out.
    assert token(from_own_address(app), assertion(key, client_id)).status_code == 200


def test_odd_claims_are_refused_in_words_not_with_a_500(app: Flask, client: FlaskClient,
                                                        demo: Any) -> None:
    from joserfc import jws

    key = new_key("ES256")
    client_id = register(app, keys=[key])
    now = int(time.time())
    base = {"iss": client_id, "sub": client_id, "aud": "http://localhost", "exp": now + 60}

    def signed(claims: dict[str, Any]) -> str:
        return jws.serialize_compact({"alg": "ES256", "kid": key.kid_value},
                                     json.dumps(claims).encode(), key, algorithms=["ES256"])

    # A lone surrogate in the jti is still a jti: it works once.
    odd = signed({**base, "jti": "\ud800-" + uuid.uuid4().hex})
    assert token(client, odd).status_code == 200
    refused(token(client, odd))
    for claims in ({**base, "jti": 5}, {**base, "jti": "x", "exp": str(now + 60)},
                   {**base, "jti": "y", "sub": ["a"]}, {**base, "jti": "z", "sub": "\ud800"}):
        refused(token(from_own_address(app), signed(claims)))
