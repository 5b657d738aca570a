"""The OAuth responses word for word: what a client reads, pinned before the OAuth code moved.

The other OAuth tests check meaning (an error code, a needle in the description); these pin
the exact descriptions of every authorization-details refusal, the members of the token and
introspection responses and the whole metadata document, so moving code cannot change them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.flows import REDIRECT_URI, Flow, basic, person_details
from tests.functional.test_oauth_authorize import BAD_DETAILS, _details

INVALID = "invalid_authorization_details"
MUST_BE_POSITIVE = "'duration' must be positive."
NOT_ISO = "'duration' must be an ISO 8601 duration such as P90D, not {!r}."
NOT_AN_ARRAY = "'authorization_details' must be a non-empty JSON array of objects."
NOT_JSON = "'authorization_details' is not valid JSON."
OVER_MAX = "'duration' {} exceeds the maximum P1Y of purpose 'kindergarten_enrolment'."
NOT_ALLOWED = "The client may not ask for data for purpose {!r}."
NOT_A_SCOPE = "Scope {!r} is not of the form 'connector.resource:read'."

DESCRIPTIONS = {
    "not_json": NOT_JSON,
    "not_a_list": NOT_AN_ARRAY,
    "empty_list": NOT_AN_ARRAY,
    "list_of_strings": "authorization_details[0]._schema: Invalid input type.",
    "wrong_type": "authorization_details[0].type: Must be equal to personal_data.",
    "unknown_key": "authorization_details[0].colour: Unknown field.",
    "unknown_connector": "Unknown connector 'tax_agency'.",
    "unknown_resource": "Connector 'civil_registry' has no resource 'passport'.",
    "unknown_field": "Resource civil_registry.person has no field(s) shoe_size.",
    "empty_fields": "authorization_details[0].fields: Length must be between 1 and 64.",
    "uppercase_field": "authorization_details[0].fields[0]: String does not match expected "
    "pattern.",
    "write_action": "authorization_details[0].actions[0]: Must be one of: read.",
    "purpose_not_allowed": NOT_ALLOWED.format("public_transport_card"),
    "purpose_unknown": NOT_ALLOWED.format("marketing"),
    "duration_over_max": OVER_MAX.format("P2Y"),
    "duration_over_max_days": OVER_MAX.format("P366D"),
    "duration_not_iso": NOT_ISO.format("90 days"),
    "duration_garbage": NOT_ISO.format("PXYZ"),
    "duration_negative": MUST_BE_POSITIVE,
    "duration_zero": MUST_BE_POSITIVE,
    "fields_not_a_list": "authorization_details[0].fields: Not a valid list.",
    "too_many_entries": "At most 10 entries are allowed.",
    "same_resource_twice": "Resource civil_registry.person appears more than once.",
    "mixed_purposes": "All entries of one request must share one 'purpose' and one 'duration'.",
    "deeply_nested": NOT_JSON,
    "number": NOT_AN_ARRAY,
    # Characters RFC 6749 forbids in a description are replaced, never a 500.
    "duration_cyrillic": NOT_ISO.format("P90?"),
    "duration_with_quotes": "'duration' must be an ISO 8601 duration such as P90D, not 'P?'1D???'.",
    "duration_with_control": "'duration' must be an ISO 8601 duration such as P90D, not 'P1D?n?t'.",
    "unknown_key_with_quote": "authorization_details[0].a?b?: Unknown field.",
    "unknown_key_cyrillic": "authorization_details[0].????: Unknown field.",
    "null": NOT_AN_ARRAY,
}

SCOPE_DESCRIPTIONS = {
    "civil_registry.person": NOT_A_SCOPE.format("civil_registry.person"),
    "civil_registry:read": NOT_A_SCOPE.format("civil_registry:read"),
    "civil_registry.person:write": NOT_A_SCOPE.format("civil_registry.person:write"),
    "tax.person:read": "Unknown connector 'tax'.",
    "audit:read": NOT_A_SCOPE.format("audit:read"),
    "civil_registry.person:чете": NOT_A_SCOPE.format("civil_registry.person:????"),
    "x'\"\\.y:read": "Unknown connector 'x?'???'.",
    "civil_registry.person:read\x01": NOT_A_SCOPE.format("civil_registry.person:read?x01"),
}

TOKEN_MEMBERS = {
    "access_token",
    "authorization_details",
    "consent_id",
    "grant_id",
    "expires_in",
    "refresh_token",
    "token_type",
}
INTROSPECTION_MEMBERS = {
    "active",
    "authorization_details",
    "client_id",
    "consent_id",
    "exp",
    "iat",
    "iss",
    "sub",
    "token_type",
}


def _flow(client: Any, demo: dict[str, Any], **kwargs: Any) -> Flow:
    return Flow(client, demo["services"][0], demo["citizens"][0], **kwargs)


def _error(response: Any) -> tuple[str, str]:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    query = parse_qs(urlsplit(location).query)
    return query["error"][0], query["error_description"][0]


def test_every_bad_details_case_is_pinned():
    assert set(DESCRIPTIONS) == set(BAD_DETAILS)


@pytest.mark.parametrize("name", DESCRIPTIONS)
def test_authorization_details_refusals_word_for_word(client, demo, name):
    flow = _flow(client, demo, details=None)
    response = client.get(flow.authorize_query(authorization_details=BAD_DETAILS[name]))
    assert _error(response) == (INVALID, DESCRIPTIONS[name])


@pytest.mark.parametrize("scope", SCOPE_DESCRIPTIONS)
def test_scope_shorthand_refusals_word_for_word(client, demo, scope):
    flow = _flow(client, demo, details=None, scope=scope)
    assert _error(client.get(flow.authorize_query())) == (INVALID, SCOPE_DESCRIPTIONS[scope])


def test_neither_details_nor_scope_word_for_word(client, demo):
    flow = _flow(client, demo, details=None)
    assert _error(client.get(flow.authorize_query())) == (
        INVALID,
        "Send 'authorization_details' of type 'personal_data' or a 'scope'.",
    )


def test_details_sent_twice_word_for_word(client, demo):
    flow = _flow(client, demo, details=None)
    twice = urlencode([("authorization_details", _details())] * 2)
    response = client.get(flow.authorize_query() + "&" + twice)
    assert _error(response) == (INVALID, "Send 'authorization_details' once.")


def test_an_empty_details_parameter_falls_back_to_the_scope(client, demo):
    flow = _flow(client, demo, details=None, scope="civil_registry.person:read")
    flow.sign_in()
    assert client.get(flow.authorize_query(authorization_details="")).status_code == 200


@pytest.mark.parametrize("details", ["[", _details(connector="tax_agency")])
def test_pkce_is_checked_before_the_details(client, demo, details):
    flow = _flow(client, demo, details=None)
    response = client.get(
        flow.authorize_query(authorization_details=details, code_challenge_method="plain")
    )
    assert _error(response) == ("invalid_request", "'code_challenge_method' must be 'S256'.")


def test_token_responses_have_exactly_these_members(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    assert set(tokens) == TOKEN_MEMBERS
    assert tokens["authorization_details"] == person_details()
    refreshed = client.post(
        "/oauth2/token",
        headers=basic(flow.service["client_id"], flow.service["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).get_json()
    assert set(refreshed) == TOKEN_MEMBERS
    assert refreshed["authorization_details"] == person_details()
    assert refreshed["consent_id"] == tokens["consent_id"]


def test_client_credentials_token_has_no_details(client, demo):
    auditor = demo["auditors"][0]
    token = client.post(
        "/oauth2/token",
        headers=basic(auditor["client_id"], auditor["client_secret"]),
        data={"grant_type": "client_credentials"},
    ).get_json()
    assert set(token) == {"access_token", "expires_in", "scope", "token_type"}


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_introspection_has_exactly_these_members(client, demo, which):
    flow = _flow(client, demo)
    tokens = flow.tokens()
    body = client.post(
        "/oauth2/introspect",
        headers=basic(flow.service["client_id"], flow.service["client_secret"]),
        data={"token": tokens[which]},
    ).get_json()
    assert set(body) == INTROSPECTION_MEMBERS
    assert body["authorization_details"] == person_details()
    assert body["token_type"] == ("Bearer" if which == "access_token" else "refresh_token")


def test_auditor_introspection_has_exactly_these_members(client, demo):
    auditor = demo["auditors"][0]
    headers = basic(auditor["client_id"], auditor["client_secret"])
    token = client.post(
        "/oauth2/token", headers=headers, data={"grant_type": "client_credentials"}
    ).get_json()["access_token"]
    body = client.post("/oauth2/introspect", headers=headers, data={"token": token}).get_json()
    assert set(body) == {"active", "client_id", "exp", "iat", "iss", "scope", "token_type"}


def test_metadata_document_word_for_word(client):
    issuer = "http://localhost"
    assert client.get("/.well-known/oauth-authorization-server").get_json() == {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA"],
        "authorization_details_types_supported": ["personal_data"],
        "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
        "pushed_authorization_request_endpoint": f"{issuer}/oauth2/par",
        "require_pushed_authorization_requests": False,
        "scopes_supported": ["audit:read", "erasure:manage", "grant_management_query",
                             "grant_management_revoke"],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{issuer}/docs",
        "ui_locales_supported": ["bg", "en"],
        "grant_management_endpoint": f"{issuer}/oauth2/grants",
        "grant_management_actions_supported": ["create", "update", "replace"],
        "grant_management_action_required": False,
        "serdika_security_profile": "baseline",
    }


SEVERAL_FAULTS = {
    "an_empty_entry": (
        "[{}]",
        "authorization_details[0].type: Missing data for required field.; "
        "authorization_details[0].connector: Missing data for required field.; "
        "authorization_details[0].resource: Missing data for required field.",
    ),
    "a_wrong_type_beside_a_bad_field": (
        '[{"type": "payment", "connector": "civil_registry", "resource": "person",'
        ' "actions": ["read"]}, {"type": "personal_data", "connector": "civil_registry",'
        ' "resource": "household", "actions": ["write"]}]',
        "authorization_details[0].type: Must be equal to personal_data.; "
        "authorization_details[1].actions[0]: Must be one of: read.",
    ),
}


@pytest.mark.parametrize("name", SEVERAL_FAULTS)
def test_every_fault_of_a_request_is_told_at_once(client, demo, name):
    details, description = SEVERAL_FAULTS[name]
    flow = _flow(client, demo, details=None)
    response = client.get(flow.authorize_query(authorization_details=details))
    assert _error(response) == (INVALID, description)
