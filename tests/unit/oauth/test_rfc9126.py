"""RFC 9126 on its own: the PAR endpoint, the request_uri at the authorization endpoint,
single use, and the metadata.

No app and no database: a framework-free Authlib server, a client, and the extension's storage
kept in a dict, as a third party would use the module.
"""

from __future__ import annotations

import ast
import base64
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oauth2 import AuthorizationServer, rfc8414
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9101.errors import InvalidRequestUriError

from broker.oauth import rfc9126
from broker.oauth.rfc9126 import PushedAuthorizationEndpoint, PushedAuthorizationRequests

REDIRECT_URI = "https://client.example/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


class Client:
    def __init__(self, client_id: str = "client") -> None:
        self.client_id = client_id

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, secret: str) -> bool:
        return secret == "secret"

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == REDIRECT_URI

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""


class Server(AuthorizationServer):
    def query_client(self, client_id: str) -> Client | None:
        return Client(client_id) if client_id in ("client", "other") else None

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request  # type: ignore[no-any-return]

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
        return status, body, dict(headers)


class Grant(grants.AuthorizationCodeGrant):
    def save_authorization_code(self, code: str, request: Any) -> None:
        pass


class InMemory(PushedAuthorizationRequests):
    """The storage a developer writes: here a dict, request_uri -> (client_id, parameters)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stored: dict[str, tuple[str, dict[str, str]]] = {}
        self.used: set[str] = set()

    def save_request(self, request_uri: str, client: Any, parameters: dict[str, str],
                     expires_in: int) -> None:
        self.stored[request_uri] = (client.get_client_id(), parameters)

    def query_request(self, request_uri: str, client: Any) -> dict[str, str] | None:
        found = self.stored.get(request_uri)
        if found is None or found[0] != client.get_client_id() or request_uri in self.used:
            return None
        return found[1]

    def use_request(self, request_uri: str, client: Any) -> bool:
        if request_uri in self.used:
            return False
        self.used.add(request_uri)
        return True


class Payload(BasicOAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(dict(reversed(pairs)))
        self._datalist = {}
        for name, value in pairs:
            self._datalist.setdefault(name, []).append(value)


def _request(method: str, pairs: list[tuple[str, str]], **headers: str) -> OAuth2Request:
    request = OAuth2Request(method, "https://as.example/x", headers=headers)
    request.payload = Payload(pairs)
    return request


def _authorization(**params: str) -> list[tuple[str, str]]:
    values = {"response_type": "code", "client_id": "client", "redirect_uri": REDIRECT_URI,
              "state": "xyz", "code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    values.update(params)
    return [(name, value) for name, value in values.items() if value]


def _basic(client_id: str = "client", secret: str = "secret") -> str:  # noqa: S107
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _setup(**kwargs: Any) -> tuple[Server, InMemory]:
    server = Server()
    server.register_grant(Grant, [CodeChallenge(required=True)])
    extension = InMemory(**kwargs)
    server.register_extension(extension)
    return server, extension


def _push(server: Server, pairs: list[tuple[str, str]], **headers: str) -> tuple[int, Any, Any]:
    headers.setdefault("Authorization", _basic())
    request = _request("POST", pairs, **headers)
    return server.create_endpoint_response(  # type: ignore[no-any-return]
        PushedAuthorizationEndpoint.ENDPOINT_NAME, request)


def _arrive(server: Server, request_uri: str, client_id: str = "client", **extra: str) -> Any:
    pairs = [("client_id", client_id), ("request_uri", request_uri), *extra.items()]
    return server.get_consent_grant(_request("GET", pairs))


# --- the module stands alone ------------------------------------------------------------------


def test_the_module_imports_only_authlib_and_the_standard_library():
    tree = ast.parse(Path(rfc9126.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and not node.level}
    roots = {name.split(".")[0] for name in imported}
    assert roots <= {"authlib", "__future__"} | set(sys.stdlib_module_names), roots


def test_request_uris_are_urns_with_256_random_bits():
    uris = {rfc9126.new_request_uri() for _ in range(100)}
    assert len(uris) == 100
    for uri in uris:
        assert uri.startswith("urn:ietf:params:oauth:request_uri:")
        assert len(uri.rsplit(":", 1)[1]) >= 43


@pytest.mark.parametrize("expires_in", [0, 600, 3600])
def test_the_lifetime_is_short(expires_in):
    with pytest.raises(ValueError):
        InMemory(expires_in=expires_in)


# --- the PAR endpoint -------------------------------------------------------------------------


def test_a_valid_push_is_stored_and_answered_201():
    server, extension = _setup(expires_in=45)
    status, body, headers = _push(server, [*_authorization(), ("client_secret", "x")])
    assert status == 201
    assert body["expires_in"] == 45
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"] == "application/json"
    client_id, parameters = extension.stored[body["request_uri"]]
    assert client_id == "client"
    assert parameters == dict(_authorization())  # client authentication is not stored


@pytest.mark.parametrize("pairs, error", [
    (_authorization(code_challenge=""), "invalid_request"),
    (_authorization(redirect_uri="https://evil.example/cb"), "invalid_request"),
    (_authorization(response_type="token"), "unsupported_response_type"),
    (_authorization(client_id="other"), "invalid_request"),
    (_authorization(client_id=""), "invalid_request"),
    ([*_authorization(), ("request_uri", "urn:ietf:params:oauth:request_uri:x")],
     "invalid_request"),
    ([*_authorization(), ("state", "again")], "invalid_request"),
])
def test_an_invalid_push_is_refused_with_json_and_not_stored(pairs, error):
    server, extension = _setup()
    status, body, headers = _push(server, pairs)
    assert status == 400
    assert body["error"] == error
    assert "state" not in body  # an RFC 6749 §5.2 error, not an authorization response
    assert "Location" not in headers
    assert extension.stored == {}


def test_a_push_without_client_authentication_is_refused():
    server, extension = _setup()
    status, body, _ = _push(server, _authorization(), Authorization=_basic(secret="wrong"))
    assert status == 401
    assert body["error"] == "invalid_client"
    assert extension.stored == {}


# --- the authorization endpoint ---------------------------------------------------------------


def test_the_pushed_parameters_replace_the_querys():
    server, _ = _setup()
    _, body, _ = _push(server, _authorization())
    grant = _arrive(server, body["request_uri"], redirect_uri="https://evil.example/cb",
                    state="other")
    assert grant.redirect_uri == REDIRECT_URI
    assert grant.request.payload.state == "xyz"
    assert grant.request.payload.request_uri == body["request_uri"]


@pytest.mark.parametrize("client_id, request_uri", [
    ("client", "urn:ietf:params:oauth:request_uri:unknown"),
    ("client", "https://client.example/request.jwt"),
    ("client", ""),
    ("other", None),  # another client's
    ("nobody", None),
])
def test_a_request_uri_that_is_not_this_clients_is_refused_without_redirect(client_id,
                                                                             request_uri):
    server, _ = _setup()
    _, body, _ = _push(server, _authorization())
    with pytest.raises(InvalidRequestUriError) as refused:
        _arrive(server, request_uri if request_uri is not None else body["request_uri"],
                client_id=client_id)
    assert refused.value.redirect_uri is None
    assert _arrive(server, body["request_uri"]).redirect_uri == REDIRECT_URI  # still usable


def test_the_response_spends_the_request_uri_once():
    server, extension = _setup()
    _, body, _ = _push(server, _authorization())
    first, second = _arrive(server, body["request_uri"]), _arrive(server, body["request_uri"])
    status, _, headers = server.create_authorization_response(grant=first, grant_user=object())
    assert status == 302
    assert parse_qs(urlsplit(headers["Location"]).query)["state"] == ["xyz"]
    assert extension.used == {body["request_uri"]}
    with pytest.raises(InvalidRequestUriError):  # the other answer of a race
        server.create_authorization_response(grant=second, grant_user=object())
    with pytest.raises(InvalidRequestUriError):  # any later arrival
        _arrive(server, body["request_uri"])


def test_unpushed_requests_pass_unless_required():
    server, _ = _setup()
    assert server.get_consent_grant(_request("GET", _authorization())).redirect_uri
    required, _ = _setup(required=True)
    with pytest.raises(InvalidRequestError) as refused:
        required.get_consent_grant(_request("GET", _authorization()))
    assert "Pushed authorization requests are required" in str(refused.value.description)
    assert refused.value.redirect_uri is None
    _, body, _ = _push(required, _authorization())  # the push itself is never refused so
    assert _arrive(required, body["request_uri"]).redirect_uri == REDIRECT_URI


def test_a_client_may_require_pushing_on_its_own():
    class PerClient(InMemory):
        def get_client_require_pushed_authorization_requests(self, client: Any) -> bool:
            return bool(client.get_client_id() == "client")

    server = Server()
    server.register_grant(Grant, [CodeChallenge(required=True)])
    server.register_extension(PerClient())
    with pytest.raises(InvalidRequestError):
        server.get_consent_grant(_request("GET", _authorization()))
    assert server.get_consent_grant(_request("GET", _authorization(client_id="other")))


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_says_where_and_whether_required():
    members = rfc9126.metadata("https://as.example/par", required=True)
    assert members == {"pushed_authorization_request_endpoint": "https://as.example/par",
                       "require_pushed_authorization_requests": True}
    document = rfc8414.AuthorizationServerMetadata({
        "issuer": "https://as.example", "authorization_endpoint": "https://as.example/a",
        "token_endpoint": "https://as.example/t", "response_types_supported": ["code"],
        **members})
    document.validate(metadata_classes=[rfc9126.AuthorizationServerMetadata])
    bad = rfc9126.AuthorizationServerMetadata(
        {"require_pushed_authorization_requests": "yes"})
    with pytest.raises(ValueError):
        bad.validate_require_pushed_authorization_requests()
