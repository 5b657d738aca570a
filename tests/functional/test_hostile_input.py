"""What a careless or hostile client sends is refused clearly, and spends nothing.

Tokens and secrets never travel in a URL; a client that cannot authenticate is told how to,
in words; lenient parsers never let odd values through (durations with a trailing newline,
ISO week dates, the basic date format).
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from consent.models import Consent
from tests.flows import Flow, basic, person_details

PERSON = "/api/v1/data/civil_registry/person"


def _flow(client: Any, demo: dict[str, Any], **kwargs: Any) -> Flow:
    return Flow(client, demo["services"][0], demo["citizens"][0], **kwargs)


@pytest.mark.parametrize("endpoint", ["/oauth2/token", "/oauth2/par", "/oauth2/introspect",
                                      "/oauth2/revoke"])
def test_parameters_in_the_query_string_are_refused(client, demo, endpoint):
    service = demo["services"][0]
    response = client.post(f"{endpoint}?grant_type=client_credentials&token=x",
                           data={"grant_type": "client_credentials", "token": "x"},
                           headers=basic(service["client_id"], service["client_secret"]))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert "form body" in body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


def test_a_code_sent_in_the_query_string_is_not_spent(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    service = demo["services"][0]
    refused = client.post(f"/oauth2/token?code={code}",
                          data={"grant_type": "authorization_code", "code": code,
                                "redirect_uri": "http://127.0.0.1:9001/callback",
                                "code_verifier": flow.verifier},
                          headers=basic(service["client_id"], service["client_secret"]))
    assert refused.status_code == 400
    assert flow.redeem(code).status_code == 200  # the code is still good in the body


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic !!!"},
                                     {"Authorization": "Bearer some-token"}])
def test_a_client_without_usable_credentials_is_told_how_to_authenticate(client, headers):
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                           headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "invalid_client"
    assert body["error_description"] == (
        "Authenticate the client with HTTP Basic: 'Authorization: Basic' with "
        "base64(client_id:secret), or a signed client_assertion (RFC 7523).")
    assert "[" not in body["error_description"]


@pytest.mark.parametrize("duration", ["P1Y\n", "P90D\n", " P90D", "P", "PT", "P1.5Y", "p90d"])
def test_durations_are_iso_8601_and_nothing_more(client, demo, duration):
    flow = _flow(client, demo, details=None)
    response = client.get(flow.authorize_query(
        authorization_details=json.dumps(person_details(duration=duration))))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_authorization_details"]
    assert "duration" in query["error_description"][0]


def test_a_frequency_period_is_iso_8601_and_nothing_more(client, demo):
    flow = _flow(client, demo, details=None)
    details = person_details(constraints={"frequency": {"max_reads": 1, "per": "P1D\n"}})
    response = client.get(flow.authorize_query(authorization_details=json.dumps(details)))
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_authorization_details"]


@pytest.mark.parametrize("day", ["2026-W05-1", "20260101", "2026-01-01\n", "2026-1-01x"])
def test_read_windows_are_calendar_days(client, demo, day):
    tokens = _flow(client, demo).tokens()
    response = client.get(PERSON, query_string={"from": day},
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "'from' must be a date such as 2026-01-31."


def _meters(client: Any, demo: dict[str, Any], constraints: dict[str, Any]) -> dict[str, Any]:
    service = next(s for s in demo["services"] if s["client_id"] == "energy-support")
    details = [{"type": "personal_data", "connector": "meter_readings",
                "resource": "electricity", "fields": ["consumption"],
                "purpose": "energy_poverty_support", "duration": "P30D",
                "constraints": constraints}]
    return Flow(client, service, demo["citizens"][0], details=details).tokens()


ELECTRICITY = "/api/v1/data/meter_readings/electricity"


@pytest.mark.parametrize("dates", [{"from": "0001-01-01"}, {"to": "9999-12-31"},
                                   {"from": "1899-12-31", "to": "2026-01-01"}])
def test_a_consent_names_days_of_the_supported_calendar(client, demo, dates):
    service = next(s for s in demo["services"] if s["client_id"] == "energy-support")
    details = [{"type": "personal_data", "connector": "meter_readings",
                "resource": "electricity", "fields": ["consumption"],
                "purpose": "energy_poverty_support", "duration": "P30D",
                "constraints": {"date_range": dates}}]
    flow = Flow(client, service, demo["citizens"][0], details=None)
    response = client.get(flow.authorize_query(authorization_details=json.dumps(details)))
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_authorization_details"]
    assert "dates lie between 1900-01-01 and 2199-12-31" in query["error_description"][0]


@pytest.mark.parametrize("query", [
    {}, {"granularity": "monthly"}, {"granularity": "daily"},
    {"granularity": "hourly", "from": "2199-12-30", "to": "2199-12-31"},
    {"granularity": "hourly", "from": "1900-01-01", "to": "1900-01-02"},
    {"granularity": "monthly", "from": "1900-01-01", "to": "2199-12-31"},
    {"granularity": "hourly", "from": "9999-12-30", "to": "9999-12-31"},
    {"from": "0001-01-01"},
])
def test_a_consent_spanning_the_whole_calendar_reads_without_failing(client, broker, demo,
                                                                     query):
    tokens = _meters(client, demo, {"date_range": {"from": "1900-01-01", "to": "2199-12-31"},
                                    "granularity": "hourly"})
    # As a consent stored before the calendar was bounded would hold it.
    with broker.db.sessions() as session:
        consent = session.get(Consent, tokens["consent_id"])
        scope = [dict(item) for item in consent.scope]
        scope[0]["constraints"] = {**scope[0]["constraints"],
                                   "date_range": {"from": "0001-01-01", "to": "9999-12-31"}}
        consent.scope = scope
        session.commit()
    response = client.get(ELECTRICITY, query_string=query,
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype in ("application/json", "application/problem+json")


def _refresh(client: Any, service: dict[str, Any], refresh_token: str, **extra: str) -> Any:
    return client.post("/oauth2/token",
                       data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                             **extra},
                       headers=basic(service["client_id"], service["client_secret"]))


def test_a_refresh_with_a_bad_scope_does_not_spend_the_token(client, demo):
    service = demo["services"][0]
    tokens = _flow(client, demo).tokens()
    refused = _refresh(client, service, tokens["refresh_token"], scope="audit:read")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_scope"
    renewed = _refresh(client, service, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.get_data(as_text=True)
    assert client.get(PERSON, headers={
        "Authorization": f"Bearer {renewed.get_json()['access_token']}"}).status_code == 200


def test_another_clients_replay_of_a_code_leaves_the_services_tokens_alone(client, demo):
    flow = _flow(client, demo)
    code = flow.code()
    tokens = flow.redeem(code).get_json()
    other = demo["services"][2]
    replay = client.post("/oauth2/token",
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": "http://127.0.0.1:9001/callback",
                               "code_verifier": flow.verifier},
                         headers=basic(other["client_id"], other["client_secret"]))
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    read = client.get(PERSON, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert read.status_code == 200
    # The service's own replay still revokes what the code issued (RFC 6749 §4.1.2).
    assert flow.redeem(code).status_code == 400
    dead = client.get(PERSON, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert dead.status_code == 401


def _client_credentials(client: Any, service: dict[str, Any], secret: str, address: str) -> Any:
    return client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                              "scope": "erasure:manage"},
                       headers=basic(service["client_id"], secret),
                       environ_overrides={"REMOTE_ADDR": address})


def test_failed_client_authentications_slow_the_guessing_address_only(app, broker, demo):
    client = app.test_client()
    service = demo["services"][1]
    guesser, own = f"198.18.{secrets.randbelow(250)}.1", f"198.19.{secrets.randbelow(250)}.1"
    limit = broker.settings.sign_in_max_failures_per_account
    statuses = [_client_credentials(client, service, "a guess", guesser).status_code
                for _ in range(limit)]
    assert statuses == [401] * limit
    blocked = _client_credentials(client, service, "another guess", guesser)
    assert blocked.status_code == 429
    assert blocked.get_json()["error"] == "invalid_client"
    assert int(blocked.headers["Retry-After"]) == broker.settings.sign_in_window_seconds
    # The service itself is never kept out, from its own address or any other.
    assert _client_credentials(client, service, service["client_secret"], own).status_code == 200
    assert _client_credentials(client, service, service["client_secret"],
                               guesser).status_code == 200
