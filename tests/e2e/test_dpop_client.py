"""DPoP (RFC 9449) against the real server, with a real DPoP client: requests-oauth2client
makes the proofs of the token request, the data reads and the refresh; gunicorn's two workers
share one store of used proofs."""

from __future__ import annotations

import pytest
import requests
from requests_oauth2client import ClientSecretBasic, DPoPKey, DPoPToken, OAuth2Client

from tests.e2e.harness import PERSON_URL, REDIRECT_URI, Browser, RealServer, Service, person_details

pytestmark = pytest.mark.e2e


def test_a_dpop_client_gets_a_bound_token_and_reads(real_server: RealServer) -> None:
    base = real_server.base_url
    registration = real_server.demo["services"][0]
    front = Service(base, registration)  # the front channel: the consent link and the code
    code = front.code_from(Browser(base, real_server.demo["citizens"][0]).consent(
        front.authorization_url(person_details())))

    client = OAuth2Client(
        token_endpoint=f"{base}/oauth2/token",
        auth=ClientSecretBasic(registration["client_id"], registration["client_secret"]),
        testing=True,  # the loopback server speaks plain http
    )
    key = DPoPKey.generate(alg="ES256")
    token = client.authorization_code(code, dpop=True, dpop_key=key,
                                      redirect_uri=REDIRECT_URI, code_verifier=front.verifier)
    assert isinstance(token, DPoPToken)
    assert token.token_type == "DPoP"

    # Every read carries a fresh proof (htm, htu, ath), whichever worker answers.
    for _ in range(4):
        read = requests.get(f"{base}{PERSON_URL}", auth=token, timeout=10,
                            headers={"Connection": "close"})
        assert read.status_code == 200, read.text
        assert set(read.json()) >= {"consent_id", "subject", "data"}

    # The bound token alone, as a bearer token, is refused with the DPoP challenge.
    bearer = requests.get(f"{base}{PERSON_URL}", timeout=10,
                          headers={"Authorization": f"Bearer {token.access_token}"})
    assert bearer.status_code == 401
    assert bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')

    # A proof replayed on the next request (any worker) is refused.
    prepared = requests.Request("GET", f"{base}{PERSON_URL}", auth=token).prepare()
    headers = {name: prepared.headers[name] for name in ("Authorization", "DPoP")}
    first = requests.get(f"{base}{PERSON_URL}", headers=headers, timeout=10)
    again = requests.get(f"{base}{PERSON_URL}", headers=headers, timeout=10)
    assert first.status_code == 200, first.text
    assert again.status_code == 401
    assert 'error="invalid_dpop_proof"' in again.headers["WWW-Authenticate"]

    # The refresh is proven with the same key (the client library does it) and stays bound.
    renewed = client.refresh_token(token)
    assert isinstance(renewed, DPoPToken)
    read = requests.get(f"{base}{PERSON_URL}", auth=renewed, timeout=10)
    assert read.status_code == 200, read.text
