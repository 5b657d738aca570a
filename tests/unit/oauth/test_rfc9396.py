"""RFC 9396 on its own: the parameter, its error, the registry of types and the extension.

No app and no database: a framework-free Authlib server, a client and a detail type of the
test's own, as a third party would use the package.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from authlib.oauth2 import AuthorizationServer, rfc8414
from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload

from broker.oauth import rfc9396
from broker.oauth.rfc9396 import (
    AuthorizationDetails,
    AuthorizationDetailTypes,
    InvalidAuthorizationDetailsError,
    parse_authorization_details,
)

PACKAGE = Path(rfc9396.__file__).parent
REDIRECT_URI = "https://client.example/cb"


class Payments:
    """A detail type as RFC 9396 §2's example: ``payment_initiation`` with an amount."""

    name = "payment_initiation"

    def validate(self, grant: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for entry in entries:
            if not isinstance(entry.get("amount"), int):
                raise InvalidAuthorizationDetailsError("'amount' must be a whole number.")
        return [{**entry, "currency": entry.get("currency", "EUR")} for entry in entries]


class Accounts:
    name = "account_information"

    def validate(self, grant: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return entries


class Client:
    def get_client_id(self) -> str:
        return "client"

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == REDIRECT_URI

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""


class Server(AuthorizationServer):
    def query_client(self, client_id: str) -> Client | None:
        return Client() if client_id == "client" else None

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request


class Payload(BasicOAuth2Payload):
    """Query parameters as sent, a name possibly more than once."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(dict(reversed(pairs)))  # the first value wins, as in Flask
        self._datalist = {}
        for name, value in pairs:
            self._datalist.setdefault(name, []).append(value)


def _request(*details: str, **params: str) -> OAuth2Request:
    pairs = [("response_type", "code"), ("client_id", "client"), ("redirect_uri", REDIRECT_URI)]
    pairs += [("authorization_details", value) for value in details]
    pairs += list(params.items())
    request = OAuth2Request("GET", "https://as.example/authorize")
    request.payload = Payload(pairs)
    return request


def _server(extension: AuthorizationDetails) -> Server:
    server = Server()
    server.register_grant(grants.AuthorizationCodeGrant, [extension])
    return server


def _consent_grant(extension: AuthorizationDetails, *details: str, **params: str) -> Any:
    return _server(extension).get_consent_grant(_request(*details, **params))


def _refusal(extension: AuthorizationDetails, *details: str) -> InvalidAuthorizationDetailsError:
    with pytest.raises(InvalidAuthorizationDetailsError) as caught:
        _consent_grant(extension, *details, state="xyz")
    return caught.value


# --- the package stands alone -----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_the_package_imports_only_authlib_and_the_standard_library(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and not node.level
    }
    roots = {name.split(".")[0] for name in imported}
    assert roots <= {"authlib"} | set(sys.stdlib_module_names), roots


# --- the parameter ----------------------------------------------------------------------------


def test_parse_returns_the_entries():
    raw = json.dumps([{"type": "payment_initiation", "amount": 5}])
    assert parse_authorization_details(raw) == [{"type": "payment_initiation", "amount": 5}]


@pytest.mark.parametrize(
    "raw, description",
    [
        ("{not json", "'authorization_details' is not valid JSON."),
        ("[" * 5000 + "]" * 5000, "'authorization_details' is not valid JSON."),
        ("[]", "'authorization_details' must be a non-empty JSON array of objects."),
        ('{"type": "x"}', "'authorization_details' must be a non-empty JSON array of objects."),
        ("null", "'authorization_details' must be a non-empty JSON array of objects."),
        ("42", "'authorization_details' must be a non-empty JSON array of objects."),
    ],
)
def test_parse_refuses_what_is_not_a_non_empty_array(raw, description):
    with pytest.raises(InvalidAuthorizationDetailsError) as caught:
        parse_authorization_details(raw)
    assert caught.value.error == "invalid_authorization_details"
    assert caught.value.description == description


def test_parse_keeps_the_servers_limit():
    raw = json.dumps([{"type": "x"}] * 3)
    assert len(parse_authorization_details(raw, max_entries=3)) == 3
    with pytest.raises(InvalidAuthorizationDetailsError, match="At most 2 entries"):
        parse_authorization_details(raw, max_entries=2)


def test_the_error_is_rfc_9396s():
    status, body, _headers = InvalidAuthorizationDetailsError("nope")()
    assert status == 400
    assert dict(body) == {"error": "invalid_authorization_details", "error_description": "nope"}
    error = InvalidAuthorizationDetailsError("nope", redirect_uri=REDIRECT_URI, state="s")
    status, _body, headers = error()
    assert status == 302
    location = dict(headers)["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert "error=invalid_authorization_details" in location and "state=s" in location


# --- the registry -----------------------------------------------------------------------------


def test_registry_routes_each_type_its_entries_and_returns_them_normalised():
    seen: list[list[dict[str, Any]]] = []

    class Recording(Accounts):
        def validate(self, grant: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            seen.append(entries)
            return entries

    types = AuthorizationDetailTypes([Payments(), Recording()])
    entries = [
        {"type": "account_information", "accounts": ["a"]},
        {"type": "payment_initiation", "amount": 5},
        {"type": "account_information", "accounts": ["b"]},
    ]
    granted = types.validate(None, entries)
    assert seen == [[entries[0], entries[2]]]
    assert granted == [
        entries[0],
        entries[2],
        {"type": "payment_initiation", "amount": 5, "currency": "EUR"},
    ]


def test_registry_knows_its_names_once():
    types = AuthorizationDetailTypes()
    types.register(Payments())
    types.register(Accounts())
    assert types.supported == ["payment_initiation", "account_information"]
    assert "payment_initiation" in types and "other" not in types
    assert types["account_information"].name == "account_information"
    with pytest.raises(ValueError, match="registered"):
        types.register(Payments())


@pytest.mark.parametrize(
    "entries, description",
    [
        (["payment_initiation"], "authorization_details[0]._schema: Invalid input type."),
        ([{"amount": 1}], "authorization_details[0].type: Missing data for required field."),
        ([{"type": 7}], "authorization_details[0].type: Not a valid string."),
        (
            [{"type": "payment_initiation", "amount": 1}, {"type": "wire"}],
            "authorization_details[1].type: Must be equal to payment_initiation.",
        ),
        (
            [{"type": "a"}, None],
            "authorization_details[0].type: Must be equal to payment_initiation.; "
            "authorization_details[1]._schema: Invalid input type.",
        ),
    ],
)
def test_registry_refuses_entries_it_cannot_route(entries, description):
    with pytest.raises(InvalidAuthorizationDetailsError) as caught:
        AuthorizationDetailTypes([Payments()]).validate(None, entries)
    assert caught.value.description == description


def test_registry_names_every_type_when_it_has_several():
    types = AuthorizationDetailTypes([Payments(), Accounts()])
    with pytest.raises(InvalidAuthorizationDetailsError) as caught:
        types.validate(None, [{"type": "wire"}])
    assert caught.value.description == (
        "authorization_details[0].type: Must be one of: payment_initiation, account_information."
    )


def test_registry_cuts_a_long_description():
    with pytest.raises(InvalidAuthorizationDetailsError) as caught:
        AuthorizationDetailTypes([Payments()]).validate(None, [{"type": "wire"}] * 50)
    assert len(caught.value.description) == 500


def test_a_types_own_refusal_is_passed_on():
    types = AuthorizationDetailTypes([Payments()])
    with pytest.raises(InvalidAuthorizationDetailsError, match="whole number"):
        types.validate(None, [{"type": "payment_initiation", "amount": "5"}])


# --- the grant extension, through Authlib's own server ----------------------------------------


def test_extension_keeps_the_granted_details_on_the_request():
    extension = AuthorizationDetails([Payments()])
    grant = _consent_grant(extension, json.dumps([{"type": "payment_initiation", "amount": 5}]))
    assert grant.request.authorization_details == [
        {"type": "payment_initiation", "amount": 5, "currency": "EUR"}
    ]
    assert grant.redirect_uri == REDIRECT_URI


def test_extension_errors_go_back_to_the_redirect_uri_with_the_state():
    error = _refusal(AuthorizationDetails([Payments()]), json.dumps([{"type": "wire"}]))
    assert error.redirect_uri == REDIRECT_URI
    assert error.state == "xyz"
    assert (
        error.description == "authorization_details[0].type: Must be equal to payment_initiation."
    )


def test_extension_refuses_the_parameter_sent_twice():
    details = json.dumps([{"type": "payment_initiation", "amount": 5}])
    error = _refusal(AuthorizationDetails([Payments()]), details, details)
    assert error.description == "Send 'authorization_details' once."


def test_extension_applies_its_limit():
    details = json.dumps([{"type": "payment_initiation", "amount": 5}] * 3)
    error = _refusal(AuthorizationDetails([Payments()], max_entries=2), details)
    assert error.description == "At most 2 entries are allowed."


def test_without_details_the_request_has_its_default():
    assert _consent_grant(AuthorizationDetails([Payments()])).request.authorization_details is None

    class FromScope(AuthorizationDetails):
        def get_default_authorization_details(self, grant: Any) -> list[dict[str, Any]]:
            return [{"type": "account_information", "scope": grant.request.payload.scope}]

    grant = _consent_grant(FromScope([Accounts()]), scope="accounts")
    assert grant.request.authorization_details == [
        {"type": "account_information", "scope": "accounts"}
    ]


def test_extension_hooks_only_the_endpoints_a_grant_has():
    extension = AuthorizationDetails([Payments()])
    request = _request()
    code_grant = grants.AuthorizationCodeGrant(request, Server())
    extension(code_grant)
    assert set(code_grant._hooks) >= {
        "after_validate_authorization_request_payload",
        "after_create_token_response",
    }
    refresh_grant = grants.RefreshTokenGrant(request, Server())
    extension(refresh_grant)
    assert "after_validate_authorization_request_payload" not in refresh_grant._hooks
    assert "after_create_token_response" in refresh_grant._hooks


class Code:
    def get_authorization_details(self) -> list[dict[str, Any]]:
        return [{"type": "payment_initiation", "amount": 5}]


def test_token_response_carries_what_the_credential_grants():
    grant = grants.AuthorizationCodeGrant(_request(), Server())
    grant.request.authorization_code = Code()
    token: dict[str, Any] = {"access_token": "a"}
    AuthorizationDetails([Payments()]).add_to_token_response(grant, (200, token, []))
    assert token == {
        "access_token": "a",
        "authorization_details": Code().get_authorization_details(),
    }


def test_token_response_is_left_alone_without_details():
    grant = grants.RefreshTokenGrant(_request(), Server())
    grant.request.refresh_token = object()
    token: dict[str, Any] = {"access_token": "a"}
    AuthorizationDetails([Payments()]).add_to_token_response(grant, (200, token, []))
    assert token == {"access_token": "a"}


# --- introspection and metadata ---------------------------------------------------------------


def test_introspection_members():
    details = [{"type": "payment_initiation", "amount": 5}]
    assert rfc9396.introspection_members(details) == {"authorization_details": details}
    assert rfc9396.introspection_members(None) == {}


def test_metadata_lists_the_registered_types_and_validates():
    types = AuthorizationDetailTypes([Payments(), Accounts()])
    members = rfc9396.metadata(types)
    assert members == {
        "authorization_details_types_supported": ["payment_initiation", "account_information"]
    }
    document = rfc8414.AuthorizationServerMetadata(
        {
            "issuer": "https://as.example",
            "authorization_endpoint": "https://as.example/authorize",
            "token_endpoint": "https://as.example/token",
            "response_types_supported": ["code"],
            **members,
        }
    )
    document.validate(metadata_classes=[rfc9396.AuthorizationServerMetadata])
    broken = rfc9396.AuthorizationServerMetadata(authorization_details_types_supported="x")
    with pytest.raises(ValueError, match="MUST be JSON array"):
        broken.validate_authorization_details_types_supported()
