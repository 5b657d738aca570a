"""The authorization endpoint (the consent page): every bad request answered clearly.

RFC 6749 §4.1.2.1: when the client or its redirect URI cannot be trusted, the citizen sees an
error page and is never redirected; every other error goes back to the redirect URI with
``error`` and the ``state``.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from consent.catalogue import register_service
from consent.models import ServiceKind
from tests.flows import REDIRECT_URI, Flow, person_details

PERSON_FIELDS = {"given_name", "middle_name", "family_name", "birth_date", "gender",
                 "national_id", "address"}


def _flow(client: Any, demo: dict[str, Any], **kwargs: Any) -> Flow:
    return Flow(client, demo["services"][0], demo["citizens"][0], **kwargs)


def _redirect_query(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return parse_qs(urlsplit(location).query)


def _assert_error_page(response: Any, error: str | None = None) -> None:
    """A 400 HTML page, never a redirect (the client or redirect URI is not trusted)."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    if error is not None:
        assert error in response.get_data(as_text=True)


# --- PKCE ------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, needle", [
    ({"code_challenge": None, "code_challenge_method": None}, "code_challenge"),
    ({"code_challenge": None}, "code_challenge"),
    ({"code_challenge_method": "plain"}, "S256"),
    ({"code_challenge_method": None}, "S256"),
    ({"code_challenge_method": "s256"}, "S256"),
    ({"code_challenge": "short"}, None),
])
def test_pkce_s256_is_required(client, demo, overrides, needle):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(**overrides))
    query = _redirect_query(response)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == [flow.state]
    assert "code" not in query
    if needle:
        assert needle in query["error_description"][0]


def test_pkce_refusal_also_applies_to_a_signed_in_citizen(client, demo):
    flow = _flow(client, demo)
    flow.sign_in()
    response = client.get(flow.authorize_query(code_challenge_method="plain"))
    assert _redirect_query(response)["error"] == ["invalid_request"]


# --- client and redirect URI: a page, never a redirect ---------------------------------------

def test_unknown_client_id_gets_a_page_not_a_redirect(client, demo):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(client_id="no-such-client"))
    _assert_error_page(response, "invalid_client")


def test_missing_client_id_gets_a_page(client, demo):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(client_id=None))
    _assert_error_page(response, "invalid_client")


def test_overlong_client_id_gets_a_page(client, demo):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(client_id="x" * 5000))
    _assert_error_page(response)


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/callback",
    REDIRECT_URI + "/",
    REDIRECT_URI + "?x=1",
    REDIRECT_URI.upper(),
    "http://127.0.0.1:9001/callback#frag",
    "http://127.0.0.1:9002/callback",
    "javascript:alert(1)",
    "http://127.0.0.1:9001/callback\x00",
    "http://127.0.0.1:9001/обратно",
    'http://127.0.0.1:9001/"callback\\',
])
def test_unregistered_redirect_uri_gets_a_page(client, demo, redirect_uri):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(redirect_uri=redirect_uri))
    _assert_error_page(response, "invalid_request")
    assert "evil.example" not in response.headers.get("Location", "")


def test_missing_redirect_uri_gets_a_page(client, demo):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(redirect_uri=None))
    _assert_error_page(response, "invalid_request")


def test_redirect_uri_of_another_service_is_refused(client, demo, broker):
    with broker.db.sessions() as session:
        other_uri = "http://127.0.0.1:9555/other-callback"
        register_service(session, name_bg="Друга", name_en="Other", organisation="Other",
                         redirect_uris=[other_uri], purposes=["kindergarten_enrolment"],
                         client_id="other-" + secrets.token_hex(4))
        session.commit()
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(redirect_uri=other_uri))
    _assert_error_page(response)


def test_bad_redirect_uri_with_bad_details_still_gets_a_page(client, demo):
    """The redirect URI is checked first: a bad one is never used even for other errors."""
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(redirect_uri="https://evil.example/cb",
                                               authorization_details="not json"))
    _assert_error_page(response)


def test_bad_request_before_sign_in_is_not_sent_to_sign_in(client, demo):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(client_id="nobody"))
    assert response.status_code == 400
    good = client.get(flow.authorize_query())
    assert good.status_code == 302
    assert urlsplit(good.headers["Location"]).path == "/wallet/sign-in"


# --- authorization_details -------------------------------------------------------------------

def _details(**overrides: Any) -> str:
    return json.dumps(person_details(**overrides))


BAD_DETAILS = {
    "not_json": "{not json",
    "not_a_list": json.dumps(person_details()[0]),
    "empty_list": "[]",
    "list_of_strings": json.dumps(["personal_data"]),
    "wrong_type": _details(type="payment_initiation"),
    "unknown_key": _details(colour="blue"),
    "unknown_connector": _details(connector="tax_agency"),
    "unknown_resource": _details(resource="passport"),
    "unknown_field": _details(fields=["given_name", "shoe_size"]),
    "empty_fields": json.dumps([{**person_details()[0], "fields": []}]),
    "uppercase_field": _details(fields=["Given_Name"]),
    "write_action": _details(actions=["write"]),
    "purpose_not_allowed": _details(purpose="public_transport_card"),
    "purpose_unknown": _details(purpose="marketing"),
    "duration_over_max": _details(duration="P2Y"),
    "duration_over_max_days": _details(duration="P366D"),
    "duration_not_iso": _details(duration="90 days"),
    "duration_garbage": _details(duration="PXYZ"),
    "duration_negative": _details(duration="-P1D"),
    "duration_zero": _details(duration="P0D"),
    "fields_not_a_list": _details(fields="given_name"),
    "too_many_entries": json.dumps(person_details() * 11),
    "same_resource_twice": json.dumps(person_details() * 2),
    "mixed_purposes": json.dumps(person_details() + person_details(
        resource="household", fields=["address"], purpose="energy_poverty_support")),
    "deeply_nested": "[" * 5000 + "]" * 5000,
    "number": "42",
    "duration_cyrillic": _details(duration="P90Д"),
    "duration_with_quotes": _details(duration="P'1D\"\\"),
    "duration_with_control": _details(duration="P1D\n\t"),
    "unknown_key_with_quote": json.dumps([{**person_details()[0], 'a"b\\': 1}]),
    "unknown_key_cyrillic": json.dumps([{**person_details()[0], "цвят": 1}]),
    "null": "null",
}


@pytest.mark.parametrize("raw", BAD_DETAILS.values(), ids=BAD_DETAILS.keys())
def test_malformed_authorization_details_go_back_with_error(client, demo, raw):
    flow = _flow(client, demo, details=None)
    response = client.get(flow.authorize_query(authorization_details=raw))
    query = _redirect_query(response)
    assert query["error"] == ["invalid_authorization_details"], query
    assert query["state"] == [flow.state]
    assert query.get("error_description"), "the error says what is wrong"
    assert "code" not in query


def test_malformed_details_are_refused_on_post_as_well(client, demo):
    flow = _flow(client, demo, details=None)
    flow.sign_in()
    good = client.get(flow.authorize_query(authorization_details=_details()))
    from tests.flows import csrf_token

    token = csrf_token(good.get_data(as_text=True))
    url = flow.authorize_query(authorization_details=_details(connector="tax_agency"))
    response = client.post(url, data={"decision": "allow", "csrf_token": token})
    query = _redirect_query(response)
    assert query["error"] == ["invalid_authorization_details"]
    assert "code" not in query


def test_purpose_error_names_the_purpose(client, demo):
    flow = _flow(client, demo, details=None)
    response = client.get(flow.authorize_query(
        authorization_details=_details(purpose="public_transport_card")))
    assert "public_transport_card" in _redirect_query(response)["error_description"][0]


def test_duration_error_names_the_maximum(client, demo):
    flow = _flow(client, demo, details=None)
    response = client.get(flow.authorize_query(authorization_details=_details(duration="P2Y")))
    assert "P1Y" in _redirect_query(response)["error_description"][0]


def test_authorization_details_sent_twice_is_refused(client, demo):
    flow = _flow(client, demo, details=None)
    query = flow.authorize_query() + "&" + urlencode(
        {"authorization_details": _details()}) + "&" + urlencode(
        {"authorization_details": _details()})
    response = client.get(query)
    result = _redirect_query(response)
    assert result["error"][0] in ("invalid_request", "invalid_authorization_details")
    assert result["state"] == [flow.state]


def test_no_details_and_no_scope_is_refused(client, demo):
    flow = _flow(client, demo, details=None)
    query = _redirect_query(client.get(flow.authorize_query()))
    assert query["error"] == ["invalid_authorization_details"]
    assert query["state"] == [flow.state]


@pytest.mark.parametrize("scope", ["civil_registry.person", "civil_registry:read",
                                   "civil_registry.person:write", "tax.person:read",
                                   "audit:read", "civil_registry.person:чете",
                                   "x'\"\\.y:read", "civil_registry.person:read\x01"])
def test_bad_scope_shorthand_is_refused(client, demo, scope):
    flow = _flow(client, demo, details=None, scope=scope)
    query = _redirect_query(client.get(flow.authorize_query()))
    assert query["error"][0] in ("invalid_authorization_details", "invalid_scope")
    assert query["state"] == [flow.state]


def test_error_redirect_keeps_a_state_with_special_characters(client, demo):
    flow = _flow(client, demo, details=None)
    flow.state = "a b&c=d/é"
    query = _redirect_query(client.get(flow.authorize_query(authorization_details="[")))
    assert query["state"] == ["a b&c=d/é"]


# --- the consent page and the decision ------------------------------------------------------

def test_consent_page_shows_the_request(client, demo):
    flow = _flow(client, demo)
    flow.sign_in()
    page = client.get(flow.authorize_query())
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert 'value="decision"' not in html
    assert 'name="decision" value="allow"' in html
    assert 'name="decision" value="deny"' in html


def test_scope_shorthand_gives_all_fields_with_default_purpose(client, demo):
    flow = _flow(client, demo, details=None, scope="civil_registry.person:read")
    tokens = flow.tokens()
    [detail] = tokens["authorization_details"]
    assert detail["type"] == "personal_data"
    assert (detail["connector"], detail["resource"]) == ("civil_registry", "person")
    assert set(detail["fields"]) == PERSON_FIELDS
    assert detail["purpose"] == "kindergarten_enrolment"
    assert detail["duration"] == "P90D"
    read = client.get("/api/v1/data/civil_registry/person",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert read.status_code == 200
    assert set(read.get_json()["data"]) == PERSON_FIELDS


def test_unticking_an_optional_field_narrows_the_consent(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens(fields=["civil_registry.person.address"])
    [detail] = tokens["authorization_details"]
    # given_name and family_name are required: they cannot be unticked.
    assert set(detail["fields"]) == {"given_name", "family_name", "address"}
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    read = client.get("/api/v1/data/civil_registry/person", headers=headers)
    assert set(read.get_json()["data"]) == {"given_name", "family_name", "address"}
    refused = client.get("/api/v1/data/civil_registry/person?fields=birth_date",
                         headers=headers)
    assert refused.status_code == 403


def test_ticking_a_field_not_requested_does_not_widen_the_consent(client, demo):
    flow = _flow(client, demo)
    tokens = flow.tokens(fields=["civil_registry.person.address",
                                 "civil_registry.person.national_id",
                                 "civil_registry.household.members"])
    [detail] = tokens["authorization_details"]
    assert set(detail["fields"]) == {"given_name", "family_name", "address"}


def test_deny_returns_access_denied_with_state(client, demo):
    flow = _flow(client, demo)
    query = flow.decide(decision="deny")
    assert query["error"] == ["access_denied"]
    assert query["state"] == [flow.state]
    assert "code" not in query


def test_invalid_decision_value_is_a_page(client, demo):
    flow = _flow(client, demo)
    flow.sign_in()
    url = flow.authorize_query()
    page = client.get(url)
    from tests.flows import csrf_token

    response = client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                      "decision": "maybe"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_post_without_csrf_token_is_refused(client, demo):
    flow = _flow(client, demo)
    flow.sign_in()
    url = flow.authorize_query()
    client.get(url)
    response = client.post(url, data={"decision": "allow"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_allow_returns_code_and_state(client, demo):
    flow = _flow(client, demo)
    query = flow.decide()
    assert query["state"] == [flow.state]
    assert query["code"][0]
    assert "error" not in query


# --- response types and clients --------------------------------------------------------------

def test_auditor_cannot_use_the_authorization_endpoint(client, demo):
    auditor = demo["auditors"][0]
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(client_id=auditor["client_id"]))
    _assert_error_page(response)


def test_auditor_with_a_redirect_uri_still_cannot_use_response_type_code(client, demo, broker):
    with broker.db.sessions() as session:
        service, _secret = register_service(
            session, name_bg="Одитор", name_en="Auditor", organisation="Audit",
            redirect_uris=[REDIRECT_URI], purposes=[], kind=ServiceKind.AUDITOR,
            scope="audit:read", client_id="aud-" + secrets.token_hex(4))
        session.commit()
        client_id = service.client_id
    flow = _flow(client, demo)
    query = _redirect_query(client.get(flow.authorize_query(client_id=client_id)))
    assert query["error"] == ["unauthorized_client"]
    assert query["state"] == [flow.state]


@pytest.mark.parametrize("response_type", ["token", "id_token", "code token", "", "CODE",
                                           "кодът", 'co"de', "code\x00", "code\\"])
def test_other_response_types_are_refused(client, demo, response_type):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(response_type=response_type))
    if response.status_code == 302:
        location = response.headers["Location"]
        assert location.startswith(REDIRECT_URI)
        query = parse_qs(urlsplit(location).query)
        assert query["error"] == ["unsupported_response_type"]
        assert query["state"] == [flow.state]
        assert "#" not in location
    else:
        _assert_error_page(response, "unsupported_response_type")


def test_missing_response_type_is_refused(client, demo):
    flow = _flow(client, demo)
    response = client.get(flow.authorize_query(response_type=None))
    assert response.status_code in (302, 400)
    assert "code=" not in response.headers.get("Location", "")
    if response.status_code == 302:
        assert response.headers["Location"].startswith(REDIRECT_URI)


def test_response_mode_fragment_is_not_honoured(client, demo):
    """Only ``query`` is advertised: the code never travels in a fragment."""
    flow = _flow(client, demo)
    query = flow.decide(response_mode="fragment")
    assert query["code"] and query["state"] == [flow.state]


# --- hostile bytes -----------------------------------------------------------------------

@pytest.mark.parametrize("raw_query", [
    "client_id=%ff%fe&response_type=code",
    "response_type=code&client_id=kindergartens&redirect_uri=%c3%28&state=%ff",
    "response_type=code&client_id=kindergartens&redirect_uri="
    "http%3A%2F%2F127.0.0.1%3A9001%2Fcallback&state=%ff%fe&code_challenge=%ff"
    "&code_challenge_method=S256",
    "response_type=code&client_id=kindergartens&redirect_uri="
    "http%3A%2F%2F127.0.0.1%3A9001%2Fcallback&code_challenge_method=S256"
    "&code_challenge=" + "a" * 50 + "&authorization_details=%ff%00%fe",
    "client_id=%00&response_type=%00",
    "response_type=code&client_id=kinder%00gartens&redirect_uri="
    "http%3A%2F%2F127.0.0.1%3A9001%2Fcallback",
    "response_type=code&client_id=kindergartens&redirect_uri="
    "http%3A%2F%2F127.0.0.1%3A9001%2Fcallback%00",
    "response_type=code&client_id=kindergartens&redirect_uri="
    "http%3A%2F%2F127.0.0.1%3A9001%2Fcallback&state=%00&code_challenge_method=S256"
    "&code_challenge=" + "a" * 50 + "&scope=civil_registry.person%00:read",
])
def test_non_utf8_query_never_gives_500(client, demo, raw_query):
    response = client.get("/oauth2/authorize?" + raw_query)
    assert response.status_code in (302, 400), response.get_data(as_text=True)
    if response.status_code == 302:
        assert response.headers["Location"].startswith(REDIRECT_URI)


def test_non_utf8_post_never_gives_500(client, demo):
    flow = _flow(client, demo)
    flow.sign_in()
    response = client.post(flow.authorize_query(), data=b"decision=%ff%fe&csrf_token=%ff",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code in (302, 400)
    assert "code=" not in response.headers.get("Location", "")


def test_every_authorization_response_names_the_issuer(client, demo, broker):
    """RFC 9207: success, denial and errors sent back to the client all carry ``iss``."""
    issuer = broker.settings.issuer
    allowed = _flow(client, demo).decide()
    assert allowed["iss"] == [issuer] and "code" in allowed
    denied = _flow(client, demo).decide(decision="deny")
    assert denied["iss"] == [issuer]
    flow = _flow(client, demo, details=person_details(purpose="energy_poverty_support"))
    flow.sign_in()
    query = _redirect_query(client.get(flow.authorize_query()))
    assert query["error"] == ["invalid_authorization_details"]
    assert query["iss"] == [issuer]
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["authorization_response_iss_parameter_supported"] is True


def _optional_boxes(page: str) -> dict[str, bool]:
    return {match.group(2): bool(match.group(3)) for match in re.finditer(
        r'<input type="checkbox" id="f-([^"]+)" name="fields" value="([^"]+)"( checked)?>', page)}


def test_on_consent_optional_fields_start_unticked(client, demo):
    """GDPR Art. 6(1)(a) with Art. 25(2): nothing optional is given unless the citizen ticks it."""
    service = next(s for s in demo["services"] if s["client_id"] == "energy-support")
    flow = Flow(client, service, demo["citizens"][0],
                details=person_details(purpose="energy_poverty_support"))
    flow.sign_in()
    boxes = _optional_boxes(client.get(flow.authorize_query()).get_data(as_text=True))
    assert boxes and not any(boxes.values()), boxes


def test_on_a_public_task_optional_fields_start_ticked(client, demo):
    flow = Flow(client, demo["services"][0], demo["citizens"][0])
    flow.sign_in()
    boxes = _optional_boxes(client.get(flow.authorize_query()).get_data(as_text=True))
    assert boxes and all(boxes.values()), boxes


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_the_authorization_endpoint_allows_no_cross_origin_reads(client, method):
    """FAPI 2.0 §5.3.2.2: no CORS on the authorization endpoint; a page of another origin can
    neither read its answers nor pre-flight a request to it."""
    response = client.open("/oauth2/authorize?client_id=kindergartens", method=method,
                           headers={"Origin": "https://evil.example",
                                    "Access-Control-Request-Method": "POST"})
    assert not any(name.lower().startswith("access-control-allow-")
                   for name, _ in response.headers.items())
