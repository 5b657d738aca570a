"""Every GET route with every query parameter it reads, fed odd values by Hypothesis.

Derandomised, so CI runs the same examples every time (a new failure is a change, not luck);
raise max_examples and drop derandomize locally to search wider.

Whatever a client sends, the answer is never a 500: a 4xx problem+json on the API, an error
page in the wallet. The values are the ones that broke things before: NUL and other control
characters, integers past 64 bits, times at the ends of the calendar with extreme offsets,
dates of other ISO forms, very long strings.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.flows import Flow, basic, create_citizen, csrf_token

EDGE_VALUES = [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01", "9999-12-31",
    "0000-00-00", "2026-W05-1", "20260101", "2026-02-30", "1" * 40, "-1", "9" * 19,
    "18446744073709551616", "1e9", "0x10", "\x00", "a\x00b", "\r\n", "%00", "ж" * 300,
    "", " ", "null", "[]", "{}", "hourly", "daily", "monthly", "pending", "all",
    # Cursors of the shapes the routes give out, at the edges.
    "0001-01-01T00:00:00+14:00_1", "9999-12-31T23:59:59-14:00_1",
    "2026-01-01T00:00:00+00:00_99999999999999999999999", "2026-01-01T00:00:00+00:00_-1",
    *(base64.urlsafe_b64encode(text.encode()).decode().rstrip("=") for text in (
        "0001-01-01T00:00:00+14:00|era_x", "9999-12-31T23:59:59-14:00|era_x",
        "2026-01-01T00:00:00+00:00|\x00", "2026-01-01T00:00:00|era_x")),
]
VALUES = st.one_of(st.sampled_from(EDGE_VALUES), st.text(max_size=40),
                   st.integers(min_value=-(2**70), max_value=2**70).map(str))
PARAMETERS = ("from", "to", "granularity", "fields", "after", "before", "since", "until",
              "start", "end",
              "status", "service", "purpose", "event", "index", "tree_size", "first",
              "second", "limit", "next", "lang", "revoked", "state", "code_challenge")
QUERIES = st.dictionaries(st.sampled_from(PARAMETERS), VALUES, max_size=4)
FUZZ = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

API_ROUTES = ("/api/v1/audit/entries", "/api/v1/audit/proofs/inclusion",
              "/api/v1/audit/proofs/consistency", "/api/v1/audit/tree-head",
              "/api/v1/audit/checkpoint", "/api/v1/audit/consents/cns_x")
SERVICE_ROUTES = ("/api/v1/data/civil_registry/person", "/api/v1/data/civil_registry/household",
                  "/api/v1/erasure-requests", "/api/v1/erasure-requests/era_x")
WALLET_ROUTES = ("/wallet/", "/wallet/history", "/wallet/history.csv", "/wallet/history.json",
                 "/wallet/notifications", "/wallet/account", "/wallet/my-data",
                 "/wallet/export", "/wallet/export.json", "/wallet/export.html",
                 "/wallet/language", "/wallet/sign-in", "/wallet/accessibility")


def _token(client: Any, credentials: dict[str, Any], scope: str) -> str:
    response = client.post("/oauth2/token",
                           data={"grant_type": "client_credentials", "scope": scope},
                           headers=basic(credentials["client_id"], credentials["client_secret"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def _never_500(response: Any) -> None:
    body = response.get_data()  # a streamed body is read whole: no error may hide inside it
    assert response.status_code < 500, body[:500]
    assert b"Traceback" not in body


@pytest.fixture
def auditor(client, demo) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(client, demo['auditors'][0], 'audit:read')}"}


@pytest.fixture
def reader(client, demo) -> dict[str, str]:
    tokens = Flow(client, demo["services"][0], demo["citizens"][0]).tokens()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def eraser(client, demo) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(client, demo['services'][0], 'erasure:manage')}"}


@pytest.fixture
def citizen_client(app, broker) -> Any:
    citizen = create_citizen(broker)
    client = app.test_client()
    page = client.get("/wallet/sign-in")
    signed = client.post("/wallet/sign-in", data={
        "username": citizen["username"], "password": citizen["password"],
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert signed.status_code == 302
    return client


@pytest.mark.parametrize("path", API_ROUTES)
@FUZZ
@given(query=QUERIES)
def test_the_audit_api_never_fails_on_its_parameters(client, auditor, path, query):
    _never_500(client.get(path, query_string=query, headers=auditor))


@pytest.mark.parametrize("path", SERVICE_ROUTES)
@FUZZ
@given(query=QUERIES)
def test_the_service_api_never_fails_on_its_parameters(client, reader, eraser, path, query):
    headers = reader if "/data/" in path else eraser
    _never_500(client.get(path, query_string=query, headers=headers))


@pytest.mark.parametrize("path", WALLET_ROUTES)
@FUZZ
@given(query=QUERIES)
def test_the_wallet_never_fails_on_its_parameters(citizen_client, path, query):
    _never_500(citizen_client.get(path, query_string=query))


@FUZZ
@given(query=QUERIES)
def test_the_authorization_endpoint_never_fails_on_its_parameters(client, demo, query):
    flow = Flow(client, demo["services"][0], demo["citizens"][0])
    _never_500(client.get(flow.authorize_query(**query)))


@pytest.mark.parametrize("value", ["\x00", "a\x00b", "9" * 30, "0001-01-01T00:00:00+14:00"])
def test_every_parameter_of_every_route_refuses_the_values_that_broke_things(
        client, auditor, reader, eraser, citizen_client, value):
    """Hypothesis samples; these go to every route and parameter, on both backends, always."""
    for path in API_ROUTES + SERVICE_ROUTES:
        headers = auditor if "/audit/" in path else reader if "/data/" in path else eraser
        for name in PARAMETERS:
            _never_500(client.get(path, query_string={name: value}, headers=headers))
    for path in WALLET_ROUTES:
        for name in PARAMETERS:
            _never_500(citizen_client.get(path, query_string={name: value}))
