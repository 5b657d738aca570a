"""The core flow (docs/architecture.md) against the real server: gunicorn, two workers, a real
database.

The service is Authlib's OAuth 2.0 client; the citizen is a ``requests`` session posting the
wallet's forms. Revocation must take effect on the very next request, whichever worker
answers it.
"""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.requests_client import OAuthError

from tests.e2e.harness import PERSON_URL, Browser, RealServer, Service, person_details

pytestmark = pytest.mark.e2e

#: Each read on a connection of its own (``Connection: close``), so the kernel spreads them
#: over both workers; gthread workers would otherwise keep one connection on one worker.
READS_PER_CHECK = 8


def test_metadata_and_jwks(real_server: RealServer) -> None:
    base = real_server.base_url
    response = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    metadata = response.json()
    assert metadata["issuer"] == base
    assert metadata["authorization_endpoint"] == f"{base}/oauth2/authorize"
    assert metadata["token_endpoint"] == f"{base}/oauth2/token"
    assert metadata["introspection_endpoint"] == f"{base}/oauth2/introspect"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"]
    assert "personal_data" in metadata["authorization_details_types_supported"]

    jwks = requests.get(metadata["jwks_uri"], timeout=10)
    assert jwks.status_code == 200
    keys = jwks.json()["keys"]
    assert keys and all("d" not in key for key in keys), "only public keys are published"
    assert {(key["kty"], key["crv"], key["alg"]) for key in keys} == {("OKP", "Ed25519", "EdDSA")}
    assert all(key["kid"] for key in keys)


def test_consent_read_revoke_on_the_real_server(real_server: RealServer) -> None:
    base = real_server.base_url
    citizen = real_server.demo["citizens"][0]
    service = Service(base, real_server.demo["services"][0])
    service.oauth.headers["Connection"] = "close"
    browser = Browser(base, citizen)

    # 1-3. The service's link, the citizen signs in and allows; the code comes back.
    authorization_url = service.authorization_url(person_details())
    location = browser.consent(authorization_url)
    code = service.code_from(location)

    # 4. The code exchange with Authlib (client_secret_basic, PKCE verifier).
    token = service.fetch_token(code)
    assert token["token_type"].lower() == "bearer"
    assert token["expires_in"] > 0
    assert token["refresh_token"]
    consent_id = token["consent_id"]
    assert consent_id.startswith("cns_")
    granted = token["authorization_details"]
    assert granted[0]["connector"] == "civil_registry"
    assert granted[0]["resource"] == "person"

    # 5. Reads return only the consented fields; warm every worker before revoking.
    subjects = set()
    for _ in range(READS_PER_CHECK):
        read = service.read()
        assert read.status_code == 200, read.text
        body = read.json()
        assert body["consent_id"] == consent_id
        assert body["resource"] == "person"
        assert set(body["data"]) == set(granted[0]["fields"])
        assert set(body["data"]) <= {"given_name", "family_name", "birth_date", "address"}
        subjects.add(body["subject"])
    assert len(subjects) == 1, "one pairwise subject per service and citizen"
    subject = subjects.pop()
    assert subject and subject not in (citizen["username"], citizen["national_id"])
    assert citizen["national_id"] not in read.text

    introspection = service.introspect(token["access_token"])
    assert introspection["active"] is True
    assert introspection["client_id"] == service.registration["client_id"]
    assert introspection["consent_id"] == consent_id
    assert introspection["sub"] == subject

    # 6. The citizen revokes in the wallet; from then on every token of the consent is dead.
    browser.revoke(consent_id)
    for _ in range(READS_PER_CHECK):
        refused = service.read()
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    for _ in range(3):
        assert service.introspect(token["access_token"]) == {"active": False}
    with pytest.raises(OAuthError) as refresh_error:
        service.refresh(token["refresh_token"])
    assert refresh_error.value.error == "invalid_grant"

    # The access log names paths only: no code, token or national id, ever.
    log = real_server.log()
    assert f"{PERSON_URL}" in log, "the access log was captured"
    assert "Traceback" not in log
    for secret in (code, token["access_token"], token["refresh_token"],
                   citizen["national_id"], citizen["password"]):
        assert secret not in log


def test_deny_returns_access_denied(real_server: RealServer) -> None:
    base = real_server.base_url
    service = Service(base, real_server.demo["services"][0])
    location = Browser(base, real_server.demo["citizens"][1]).consent(
        service.authorization_url(person_details()), decision="deny")
    assert location.startswith("http://127.0.0.1:9001/callback?")
    assert "error=access_denied" in location
    assert f"state={service.state}" in location
    assert "code=" not in location


def test_workers_sign_tree_heads_on_their_own(real_server: RealServer) -> None:
    """The sequencer threads integrate new entries and sign a head within a few seconds,
    without anyone asking for the tree head."""
    import time

    from sqlalchemy import create_engine, func, select

    from broker.config import normalise_database_url
    from consent.models import LedgerEntry, TreeHead

    base = real_server.base_url
    service = Service(base, real_server.demo["services"][1])
    browser = Browser(base, real_server.demo["citizens"][1])
    code = service.code_from(browser.consent(service.authorization_url(
        person_details(purpose="public_transport_card"))))
    service.fetch_token(code)
    engine = create_engine(normalise_database_url(real_server.database_url))
    try:
        deadline = time.monotonic() + 15
        while True:
            with engine.connect() as connection:
                entries = connection.execute(select(func.count()).select_from(LedgerEntry)
                                             ).scalar_one()
                signed = connection.execute(select(func.max(TreeHead.tree_size))).scalar()
            if signed is not None and signed >= entries > 0:
                break
            assert time.monotonic() < deadline, f"no head covers {entries} entries: {signed}"
            time.sleep(0.5)
    finally:
        engine.dispose()
