"""A FAPI 2.0 client end to end: the real server under ``SERDIKA_SECURITY_PROFILE=fapi2``, and
``requests-oauth2client`` doing PAR, private_key_jwt, DPoP and Grant Management with the demo's
FAPI-grade service (its private key written under var/ by ``serdika demo seed``), on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from jwskate import Jwk
from requests_oauth2client import DPoPKey, DPoPToken, OAuth2Client, PrivateKeyJwt

from tests.e2e.harness import PERSON_URL, REDIRECT_URI, Browser, RealServer, person_details

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fapi2_server(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[RealServer]:
    base: Path = tmp_path_factory.mktemp("fapi2")
    server = RealServer(database_url=e2e_database_url, var_dir=base / "var",
                        log_path=base / "server.log", workers=2,
                        extra_env={"SERDIKA_SECURITY_PROFILE": "fapi2"})
    with server.serving():
        yield server


def _client(server: RealServer) -> tuple[OAuth2Client, dict[str, Any]]:
    base = server.base_url
    metadata = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    fapi = next(s for s in server.demo["services"] if s["client_id"] == "kindergartens-fapi")
    private = Jwk(json.loads(Path(fapi["private_key_file"]).read_text()))
    client = OAuth2Client.from_discovery_document(
        metadata, issuer=base, redirect_uri=REDIRECT_URI,
        auth=PrivateKeyJwt(fapi["client_id"], private, alg="EdDSA", aud=base),
        dpop_bound_access_tokens=True,
        testing=True,  # plain http on loopback
    )
    return client, metadata


def test_par_private_key_jwt_dpop_and_grant_management(fapi2_server: RealServer) -> None:
    base = fapi2_server.base_url
    client, metadata = _client(fapi2_server)
    assert metadata["serdika_security_profile"] == "fapi2"
    assert metadata["require_pushed_authorization_requests"] is True
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]

    key = DPoPKey.generate(alg="ES256")
    request = client.authorization_request(
        scope=None, authorization_details=json.dumps(person_details(["given_name"])),
        dpop_key=key)
    pushed = client.pushed_authorization_request(request)
    citizen = Browser(base, fapi2_server.demo["citizens"][1])
    token = client.authorization_code(request.validate_callback(citizen.consent(pushed.uri)),
                                      dpop_key=key)
    assert isinstance(token, DPoPToken)
    grant_id = token.kwargs["grant_id"]

    read = requests.get(f"{base}{PERSON_URL}?fields=given_name", auth=token, timeout=10)
    assert read.status_code == 200, read.text
    bearer = requests.get(f"{base}{PERSON_URL}", timeout=10,
                          headers={"Authorization": f"Bearer {token.access_token}"})
    assert bearer.status_code == 401

    # Grant Management: widen the grant (update); the citizen agrees; the grant id stays.
    wider = client.authorization_request(
        scope=None, authorization_details=json.dumps(person_details(["family_name"])),
        dpop_key=key, grant_id=grant_id, grant_management_action="update")
    again = client.pushed_authorization_request(wider)
    widened = client.authorization_code(wider.validate_callback(citizen.consent(again.uri)),
                                        dpop_key=key)
    assert widened.kwargs["grant_id"] == grant_id
    both = requests.get(f"{base}{PERSON_URL}?fields=given_name,family_name", auth=widened,
                        timeout=10)
    assert both.status_code == 200, both.text

    # The grant management endpoint, with a DPoP-bound client-credentials token.
    manager_key = DPoPKey.generate(alg="EdDSA")
    manager = client.client_credentials(
        scope="grant_management_query grant_management_revoke", dpop=True,
        dpop_key=manager_key)
    grant_url = f"{metadata['grant_management_endpoint']}/{grant_id}"
    about = requests.get(grant_url, auth=manager, timeout=10)
    assert about.status_code == 200, about.text
    assert {field for item in about.json()["authorization_details"]
            for field in item["fields"]} == {"given_name", "family_name"}
    assert requests.delete(grant_url, auth=manager, timeout=10).status_code == 204
    assert requests.get(grant_url, auth=manager, timeout=10).status_code == 404
    # The library reads any DPoP 401 as a nonce request; the refusal is checked as sent.
    ended = requests.Request("GET", f"{base}{PERSON_URL}", auth=widened).prepare()
    ended.hooks = {"response": []}
    refused = requests.Session().send(ended, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


def test_fapi2_refuses_what_the_baseline_allows(fapi2_server: RealServer) -> None:
    base = fapi2_server.base_url
    kindergartens = fapi2_server.demo["services"][0]
    # With a valid proof, so that only the shared secret is wrong.
    proof = DPoPKey.generate(alg="ES256").proof(htm="POST", htu=f"{base}/oauth2/token")
    secret = requests.post(f"{base}/oauth2/token", timeout=10, headers={"DPoP": str(proof)},
                           auth=(kindergartens["client_id"], kindergartens["client_secret"]),
                           data={"grant_type": "client_credentials"})
    assert secret.status_code == 401 and secret.json()["error"] == "invalid_client", secret.text
    unpushed = requests.get(f"{base}/oauth2/authorize", timeout=10, allow_redirects=False,
                            params={"client_id": "kindergartens-fapi", "response_type": "code",
                                    "redirect_uri": REDIRECT_URI, "state": "s",
                                    "code_challenge": "x" * 43,
                                    "code_challenge_method": "S256"})
    assert unpushed.status_code in (302, 400)
    assert "invalid_request" in (unpushed.headers.get("Location", "") + unpushed.text)
