"""Pushed authorization requests (RFC 9126) through the app: the PAR endpoint, the consent page
reached with a request_uri, single use, expiry, another client's request_uri, and the fapi2
profile that requires every request to be pushed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from broker import create_app
from broker.oauth.models import PushedRequest
from broker.oauth.rfc9126 import PushedAuthorizationEndpoint
from consent.crypto import token_hash
from consent.types import utcnow
from tests.flows import REDIRECT_URI, Flow, basic, csrf_token, person_details


def _flow(client: Any, demo: dict[str, Any], **kwargs: Any) -> Flow:
    return Flow(client, demo["services"][0], demo["citizens"][0], **kwargs)


def _pushed(flow: Flow, **overrides: Any) -> tuple[str, str]:
    """Push the flow's request; its request_uri and the authorization URL that carries it."""
    url = flow.pushed_query(**overrides)
    return parse_qs(urlsplit(url).query)["request_uri"][0], url


def _answer(flow: Flow, url: str, decision: str = "allow") -> Any:
    """Show the consent page and answer it for the citizen themself."""
    page = flow.client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "decision": decision}
    if 'name="subject"' in page.get_data(as_text=True):
        if decision == "allow":
            # A parent's "allow" that does not say whose data shows the page again (400):
            # the request_uri stays usable until the answer is made.
            assert flow.client.post(url, data=form).status_code == 400
        form["subject"] = "me"
    return flow.client.post(url, data=form)


def _assert_error_page(response: Any, error: str) -> None:
    """RFC 9126 §4: a 400 page for the citizen, never a redirect to the service."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert error in response.get_data(as_text=True)


def _stored(broker: Any) -> int:
    with broker.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(PushedRequest)) or 0)


def _extension(app: Flask) -> Any:
    server = app.extensions["serdika.oauth"]
    return server._endpoints[PushedAuthorizationEndpoint.ENDPOINT_NAME][0].extension


# --- the PAR endpoint -------------------------------------------------------------------------


def test_a_push_is_answered_201_with_a_short_lived_request_uri(client, demo, broker):
    flow = _flow(client, demo)
    response = flow.push()
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"request_uri", "expires_in"}
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == broker.settings.par_ttl < 600
    with broker.db.sessions() as session:
        row = session.scalar(select(PushedRequest).where(
            PushedRequest.request_uri_hash == token_hash(body["request_uri"])))
        assert row is not None  # stored under its hash only
        assert row.client_id == demo["services"][0]["client_id"]
        assert row.parameters["state"] == flow.state
        assert row.used_at is None


def test_the_pushed_request_goes_through_the_consent_page_to_tokens(client, demo):
    flow = _flow(client, demo, pushed=True)
    tokens = flow.tokens()  # push, consent page with request_uri, allow, code, token
    assert tokens["consent_id"].startswith("cns_")
    granted = tokens["authorization_details"][0]
    assert (granted["connector"], granted["resource"]) == ("civil_registry", "person")
    assert set(granted["fields"]) == set(person_details()[0]["fields"])


@pytest.mark.parametrize("overrides, error", [
    ({"redirect_uri": "http://127.0.0.1:9001/elsewhere"}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"authorization_details": "[{\"type\": \"payment\"}]"}, "invalid_authorization_details"),
    ({"authorization_details": "not json"}, "invalid_authorization_details"),
    ({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}, "invalid_request"),
    ({"client_id": "another"}, "invalid_request"),
    ({"client_id": None}, "invalid_request"),
])
def test_an_invalid_push_is_refused_and_never_stored(client, demo, broker, overrides, error):
    flow = _flow(client, demo)
    before = _stored(broker)
    response = flow.push(**overrides)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert "Location" not in response.headers
    assert response.get_json()["error"] == error
    assert _stored(broker) == before


def test_a_parameter_sent_twice_is_refused(client, demo, broker):
    flow = _flow(client, demo)
    data = [*flow.authorize_params().items(), ("state", "again")]
    response = client.post("/oauth2/par", data=urlencode(data),
                           content_type="application/x-www-form-urlencoded",
                           headers=basic(flow.service["client_id"],
                                         flow.service["client_secret"]))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_the_query_string_is_refused(client, demo, broker):
    flow = _flow(client, demo)
    before = _stored(broker)
    response = client.post("/oauth2/par?" + urlencode(flow.authorize_params()),
                           headers=basic(flow.service["client_id"],
                                         flow.service["client_secret"]))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert "form body" in response.get_json()["error_description"]
    assert _stored(broker) == before


@pytest.mark.parametrize("secret", [None, "wrong"])
def test_a_push_needs_client_authentication(client, demo, broker, secret):
    flow = _flow(client, demo)
    headers = basic(flow.service["client_id"], secret) if secret else {}
    response = client.post("/oauth2/par", data=flow.authorize_params(), headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_expired_requests_are_swept_by_a_later_push(client, demo, app, broker):
    flow = _flow(client, demo)
    stale, _ = _pushed(flow)
    with broker.db.sessions() as session:
        session.execute(update(PushedRequest)
                        .where(PushedRequest.request_uri_hash == token_hash(stale))
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    _extension(app).next_sweep = 0.0  # as if the last sweep were a TTL ago
    fresh, _ = _pushed(flow)
    with broker.db.sessions() as session:
        hashes = set(session.scalars(select(PushedRequest.request_uri_hash)))
    assert token_hash(stale) not in hashes
    assert token_hash(fresh) in hashes


# --- the authorization endpoint ---------------------------------------------------------------


def test_only_the_pushed_parameters_count(client, demo):
    flow = _flow(client, demo)
    flow.withdraw_standing()
    flow.sign_in()
    _, url = _pushed(flow)
    # Parameters beside the request_uri are ignored, the pushed redirect_uri and state are used.
    response = _answer(flow, url + "&" + urlencode({"redirect_uri": "https://evil.example/",
                                                    "state": "forged"}))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert parse_qs(urlsplit(location).query)["state"] == [flow.state]


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_the_request_uri_is_spent_by_the_answer(client, demo, decision):
    flow = _flow(client, demo)
    flow.withdraw_standing()
    flow.sign_in()
    _, url = _pushed(flow)
    page = client.get(url)
    assert page.status_code == 200  # the page may be shown again before the answer
    token = csrf_token(page.get_data(as_text=True))
    response = _answer(flow, url, decision)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == [flow.state]  # a refusal too carries the pushed state
    assert ("code" in query) == (decision == "allow")
    # Afterwards the request_uri is refused: the page, and a second answer.
    _assert_error_page(client.get(url), "invalid_request_uri")
    again = {"csrf_token": token, "decision": "allow", "subject": "me"}
    _assert_error_page(client.post(url, data=again), "invalid_request_uri")


def test_of_two_answers_only_one_spends_the_request_uri(client, demo, app, broker):
    flow = _flow(client, demo)
    request_uri, _ = _pushed(flow)
    extension = _extension(app)
    with app.test_request_context():
        owner = app.extensions["serdika.oauth"].query_client(flow.service["client_id"])
        with broker.db.writing():
            assert extension.use_request(request_uri, owner) is True
        with broker.db.writing():
            assert extension.use_request(request_uri, owner) is False


def test_an_expired_request_uri_is_refused(client, demo, broker):
    flow = _flow(client, demo)
    flow.sign_in()
    request_uri, url = _pushed(flow)
    with broker.db.sessions() as session:
        session.execute(update(PushedRequest)
                        .where(PushedRequest.request_uri_hash == token_hash(request_uri))
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    _assert_error_page(client.get(url), "invalid_request_uri")


def test_the_citizen_has_time_once_the_browser_has_arrived(client, demo, broker):
    """expires_in is the service's time to send the browser; signing in and reading the page
    may take longer (broker.oauth.pushed_requests.INTERACTION_SECONDS)."""
    flow = _flow(client, demo)
    flow.withdraw_standing()
    flow.sign_in()
    request_uri, url = _pushed(flow)
    assert client.get(url).status_code == 200
    with broker.db.sessions() as session:
        expires_at = session.scalar(select(PushedRequest.expires_at).where(
            PushedRequest.request_uri_hash == token_hash(request_uri)))
    assert expires_at is not None
    assert expires_at > utcnow() + timedelta(seconds=broker.settings.par_ttl)
    assert _answer(flow, url).status_code == 302


def test_unknown_and_other_clients_request_uris_are_refused(client, demo):
    flow = _flow(client, demo)
    flow.withdraw_standing()
    flow.sign_in()
    request_uri, url = _pushed(flow)
    other = demo["services"][1]["client_id"]
    for query in ({"client_id": other, "request_uri": request_uri},
                  {"client_id": flow.service["client_id"],
                   "request_uri": "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe()},
                  {"client_id": flow.service["client_id"], "request_uri": ""}):
        _assert_error_page(client.get("/oauth2/authorize?" + urlencode(query)),
                           "invalid_request_uri")
    # The refusals did not spend it: its own client's browser still gets the page.
    assert _answer(flow, url).status_code == 302


def test_unpushed_requests_still_work_under_baseline(client, demo):
    assert _flow(client, demo).code()


# --- the fapi2 profile ------------------------------------------------------------------------


@pytest.fixture
def fapi2_app(settings: Any, demo: dict[str, Any]) -> Iterator[Flask]:
    application = create_app({"settings": settings.with_overrides({"security_profile": "fapi2"}),
                              "TESTING": True})
    # fapi2's own rule on client authentication (no shared secrets) is not what this tests:
    # the demo services keep authenticating with their secrets here.
    application.extensions["serdika.oauth"].client_auth_methods = ["client_secret_basic"]
    yield application
    application.extensions["serdika"].db.dispose()


def test_fapi2_requires_pushed_requests(fapi2_app, demo):
    client = fapi2_app.test_client()
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["require_pushed_authorization_requests"] is True
    assert metadata["pushed_authorization_request_endpoint"].endswith("/oauth2/par")

    flow = _flow(client, demo)
    flow.sign_in()
    refused = client.get(flow.authorize_query())
    _assert_error_page(refused, "invalid_request")
    assert "Pushed authorization requests are required" in refused.get_data(as_text=True)

    pushed = _flow(client, demo, pushed=True)
    query = pushed.decide()  # answered with 303, as FAPI 2.0 wants after a POST (tests/flows)
    assert query["state"] == [pushed.state]
    assert query["code"]


def test_baseline_metadata_does_not_require_pushing(client):
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["require_pushed_authorization_requests"] is False
    assert metadata["pushed_authorization_request_endpoint"] == "http://localhost/oauth2/par"
