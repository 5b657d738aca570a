"""Pushed authorization requests (RFC 9126) with a client library that knows them:
``requests-oauth2client``, configured from the server's metadata, against the real server.
"""

from __future__ import annotations

import json

import pytest
import requests
from requests_oauth2client import ClientSecretBasic, OAuth2Client

from tests.e2e.harness import PERSON_URL, REDIRECT_URI, Browser, RealServer, person_details

pytestmark = pytest.mark.e2e


def test_a_pushed_request_with_requests_oauth2client(real_server: RealServer) -> None:
    base = real_server.base_url
    service = real_server.demo["services"][0]
    metadata = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["pushed_authorization_request_endpoint"] == f"{base}/oauth2/par"
    assert metadata["require_pushed_authorization_requests"] is False  # baseline profile
    client = OAuth2Client.from_discovery_document(
        metadata, issuer=base, redirect_uri=REDIRECT_URI,
        auth=ClientSecretBasic(service["client_id"], service["client_secret"]),
        testing=True,  # plain http on loopback
    )

    # The library pushes the request (PKCE S256, state) and gets a request_uri back.
    request = client.authorization_request(
        scope=None, authorization_details=json.dumps(person_details()))
    pushed = client.pushed_authorization_request(request)
    assert pushed.request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    assert pushed.expires_at is not None
    assert set(pushed.furl.args) == {"client_id", "request_uri"}

    # The citizen's browser brings only client_id and request_uri; the answer comes back with
    # the pushed state and the issuer (RFC 9207), which the library checks.
    browser = Browser(base, real_server.demo["citizens"][1])
    location = browser.consent(pushed.uri)
    token = client.authorization_code(request.validate_callback(location))
    assert token.access_token
    read = requests.get(f"{base}{PERSON_URL}", auth=token, timeout=10)
    assert read.status_code == 200, read.text

    # Single use: the same request_uri is refused from now on, with no redirect.
    again = browser.http.get(pushed.uri, allow_redirects=False, timeout=10)
    assert again.status_code == 400
    assert "invalid_request_uri" in again.text
