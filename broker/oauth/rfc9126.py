"""broker.oauth.rfc9126.
~~~~~~~~~~~~~~~~~~~~~

OAuth 2.0 Pushed Authorization Requests: the client pushes its authorization request to the
server, authenticated, and sends the browser to the authorization endpoint with only
``client_id`` and the ``request_uri`` it got back.

Framework-free, and shaped like Authlib's own RFC packages (its ``rfc9101`` extension resolves
a ``request_uri`` the same way): it imports Authlib and the standard library only, so it could
be offered to Authlib as it stands. Storage is the server's: subclass
:class:`PushedAuthorizationRequests` and implement its three storage methods.

:rfc:`9126`
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.endpoint import Endpoint, EndpointRequest
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc8414.models import validate_boolean_value
from authlib.oauth2.rfc9101.errors import InvalidRequestUriError

#: RFC 9126 §2.2: a URN the server mints; only a reference, never a URL anyone fetches.
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"

#: Parameters that authenticate the client at the endpoint (RFC 6749 §2.3.1, RFC 7523 §2.2):
#: they are not part of the authorization request and are never stored with it.
CLIENT_AUTHENTICATION_PARAMETERS = frozenset(
    {"client_secret", "client_assertion", "client_assertion_type"}
)

#: The description of every refused ``request_uri``: which of the reasons it was is not said,
#: so a guessed or stolen value tells nothing about the pushed request behind it.
REFUSED_REQUEST_URI = (
    "The request_uri is unknown, has expired, was used already, or was pushed by another client."
)


def new_request_uri() -> str:
    """A fresh ``request_uri``: 256 random bits, so it cannot be guessed (RFC 9126 §7.1)."""
    return REQUEST_URI_PREFIX + secrets.token_urlsafe(32)


class PushedPayload(BasicOAuth2Payload):  # type: ignore[misc]
    """The parameters of a pushed authorization request, as the grants read them.

    ``request_uri`` is the reference the browser brought to the authorization endpoint, or
    ``None`` while the push itself is being validated at the PAR endpoint.
    """

    def __init__(self, parameters: dict[str, str], request_uri: str | None = None) -> None:
        super().__init__(parameters)
        self.request_uri = request_uri


@dataclass
class ValidatedPush(EndpointRequest):  # type: ignore[misc]
    """A push that passed every check of the authorization endpoint, ready to be stored."""

    parameters: dict[str, str] = field(default_factory=dict)


class PushedAuthorizationEndpoint(Endpoint):  # type: ignore[misc]
    """The pushed authorization request endpoint (RFC 9126 §2), registered by
    :class:`PushedAuthorizationRequests`; served as Authlib serves its other endpoints::

        server.create_endpoint_response(PushedAuthorizationEndpoint.ENDPOINT_NAME)
    """

    ENDPOINT_NAME = "pushed_authorization_request"
    #: RFC 9126 §2: the client authenticates as it does at the token endpoint.
    CLIENT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012 - Authlib's attribute

    def __init__(self, extension: PushedAuthorizationRequests, server: Any = None) -> None:
        super().__init__(server)
        self.extension = extension

    def get_client_auth_methods(self) -> list[str]:
        """The client authentication methods accepted; developers MAY re-implement it to
        follow the token endpoint's, wherever the server keeps them."""
        return list(self.CLIENT_AUTH_METHODS)

    def authenticate_endpoint_client(self, request: OAuth2Request) -> Any:
        client = self.server.authenticate_client(
            request, self.get_client_auth_methods(), self.ENDPOINT_NAME
        )
        request.client = client
        return client

    def validate_request(self, request: OAuth2Request) -> ValidatedPush:
        client = self.authenticate_endpoint_client(request)
        datalist = request.payload.datalist
        # RFC 6749 §3.1: no parameter more than once (Authlib would quietly take the first).
        repeated = sorted(name for name, values in datalist.items() if len(values) > 1)
        if repeated:
            raise InvalidRequestError(f"Parameter(s) sent more than once: {', '.join(repeated)}.")
        # RFC 9126 §2.1: a push carries the request itself, never a reference to another.
        if "request_uri" in datalist:
            raise InvalidRequestError(
                "'request_uri' is not allowed in a pushed authorization request."
            )
        parameters = {
            name: values[0]
            for name, values in datalist.items()
            if name not in CLIENT_AUTHENTICATION_PARAMETERS
        }
        # RFC 9126 §2.1: client_id is required as in any authorization request, and it names
        # the client that authenticated, or the request would be another client's.
        if parameters.get("client_id") != client.get_client_id():
            raise InvalidRequestError("'client_id' must name the authenticated client.")
        self.extension.bind_parameters(request, parameters)
        self.validate_authorization_request(request, parameters)
        return ValidatedPush(request=request, client=client, parameters=parameters)

    def validate_authorization_request(
        self, request: OAuth2Request, parameters: dict[str, str]
    ) -> None:
        """RFC 9126 §2.1: validate the pushed request as the authorization endpoint would, with
        every grant extension (PKCE, authorization details, ...), so that nothing invalid is
        ever stored."""
        pushed = OAuth2Request(request.method, request.uri, headers=request.headers)
        pushed.payload = PushedPayload(parameters)
        try:
            grant = self.server.get_authorization_grant(pushed)
            grant.validate_no_multiple_request_parameter(pushed)
            grant.validate_consent_request()
        except OAuth2Error as error:
            # RFC 9126 §2.3: the client is answered directly, with an RFC 6749 §5.2 error;
            # nothing goes to the redirect URI.
            error.redirect_uri = None
            error.state = None
            raise

    def create_response(self, validated_request: ValidatedPush) -> tuple[int, Any, list[Any]]:
        request_uri = new_request_uri()
        expires_in = self.extension.expires_in
        self.extension.save_request(
            request_uri, validated_request.client, validated_request.parameters, expires_in
        )
        body = {"request_uri": request_uri, "expires_in": expires_in}
        headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
        ]
        # RFC 9126 §2.2: 201 Created.
        return 201, body, headers


class PushedAuthorizationRequests:
    """Authorization server extension for RFC 9126, registered as Authlib registers its
    ``rfc9101.JWTAuthenticationRequest``::

        class PushedAuthorizationRequests(rfc9126.PushedAuthorizationRequests):
            def save_request(self, request_uri, client, parameters, expires_in): ...
            def query_request(self, request_uri, client): ...
            def use_request(self, request_uri, client): ...

        server.register_extension(PushedAuthorizationRequests(required=True))

    It registers the :class:`PushedAuthorizationEndpoint`; at the authorization endpoint it
    replaces the parameters of a request that brings a ``request_uri`` with the pushed ones
    (RFC 9126 §4), refuses an unpushed request where pushing is ``required`` (§5), and spends
    the ``request_uri`` when the authorization response is made (§7.3: single use).

    :param required: every authorization request must be pushed (metadata
        ``require_pushed_authorization_requests``).
    :param expires_in: the ``request_uri``'s lifetime in seconds (§2.2: short; FAPI 2.0 asks
        for less than 600).
    """

    endpoint_class = PushedAuthorizationEndpoint

    def __init__(self, *, required: bool = False, expires_in: int = 60) -> None:
        if not 0 < expires_in < 600:
            raise ValueError("expires_in must be between 1 and 599 seconds.")
        self.required = required
        self.expires_in = expires_in
        self.endpoint: PushedAuthorizationEndpoint | None = None

    def __call__(self, server: Any) -> None:
        server.register_hook("before_get_authorization_grant", self.resolve_request_uri)
        server.register_hook("before_create_authorization_response", self.spend_request_uri)
        self.endpoint = self.endpoint_class(self, server)
        server.register_endpoint(self.endpoint)

    # --- storage: developers MUST implement these ----------------------------------------

    def save_request(
        self, request_uri: str, client: Any, parameters: dict[str, str], expires_in: int
    ) -> None:
        """Store a validated push: its parameters, for ``client``, for ``expires_in`` seconds."""
        raise NotImplementedError()

    def query_request(self, request_uri: str, client: Any) -> dict[str, str] | None:
        """The parameters pushed under ``request_uri`` by ``client``; ``None`` if it is unknown,
        expired, used, or another client's.

        It is asked on every arrival at the authorization endpoint until the response is
        made, so a server MAY let an arrived request outlive ``expires_in``: that lifetime
        is the client's to bring the browser, not the user's to sign in and decide.
        """
        raise NotImplementedError()

    def use_request(self, request_uri: str, client: Any) -> bool:
        """Mark the request used, atomically: ``True`` for exactly one caller, ``False`` when it
        was used already (or is no longer there)."""
        raise NotImplementedError()

    def bind_parameters(self, request: OAuth2Request, parameters: dict[str, str]) -> None:
        """Add to, or check, the pushed parameters from what else the push carries; a server
        MAY re-implement it (a DPoP proof binds the code to its key: RFC 9449 §10.1). The
        default adds nothing."""

    def get_client_require_pushed_authorization_requests(self, client: Any) -> bool:
        """The client's own ``require_pushed_authorization_requests`` (RFC 9126 §6); developers
        MAY re-implement it. The default: only the server's setting counts."""
        return False

    # --- the authorization endpoint -------------------------------------------------------

    def resolve_request_uri(self, server: Any, request: OAuth2Request) -> None:
        """Before the grant is chosen: put the pushed parameters in place of the query's."""
        if isinstance(request.payload, PushedPayload):
            return  # resolved already, or the push itself being validated
        state = request.payload.state
        if "request_uri" not in request.payload.data:
            if self.required or self._client_requires(server, request.payload.client_id):
                # §5 (and FAPI 2.0 §5.3.1.2): parameters in the query are not authenticated.
                raise InvalidRequestError(
                    "Pushed authorization requests are required: push the request to the "
                    "pushed_authorization_request_endpoint and send its request_uri.",
                    state=state,
                )
            return
        if len(request.payload.datalist.get("request_uri", [])) > 1:
            raise InvalidRequestError("Send 'request_uri' once.", state=state)
        request_uri = request.payload.data["request_uri"]
        client_id = request.payload.client_id
        if not client_id:
            raise InvalidRequestError("Send 'client_id' with 'request_uri'.", state=state)
        client = server.query_client(client_id)
        # §4: the request_uri is the client's who pushed it; anything else is refused, and
        # with no redirect, since no pushed redirect_uri is known to belong to this client.
        parameters = None
        if client is not None and request_uri and request_uri.startswith(REQUEST_URI_PREFIX):
            parameters = self.query_request(request_uri, client)
        if parameters is None or parameters.get("client_id") != client_id:
            raise InvalidRequestUriError(REFUSED_REQUEST_URI)
        # §4: only the pushed parameters count (as in RFC 9101 §6.3); the query's are ignored.
        request.payload = PushedPayload(parameters, request_uri)

    def spend_request_uri(
        self, server: Any, request: Any = None, grant_user: Any = None, grant: Any = None
    ) -> None:
        """Before the authorization response (a code or a refusal): §7.3, single use. Of two
        answers racing on one request_uri exactly one gets a response."""
        if grant is None:
            return
        payload = grant.request.payload
        if not isinstance(payload, PushedPayload) or payload.request_uri is None:
            return
        if not self.use_request(payload.request_uri, grant.request.client):
            raise InvalidRequestUriError(REFUSED_REQUEST_URI)

    def _client_requires(self, server: Any, client_id: str | None) -> bool:
        client = server.query_client(client_id) if client_id else None
        return client is not None and self.get_client_require_pushed_authorization_requests(client)


class AuthorizationServerMetadata(dict):  # type: ignore[type-arg]
    """Authorization Server Metadata extension for RFC 9126 (§5), used as Authlib's are::

    metadata = rfc8414.AuthorizationServerMetadata(data)
    metadata.validate(metadata_classes=[rfc9126.AuthorizationServerMetadata])
    """

    REGISTRY_KEYS = [  # noqa: RUF012 - Authlib's
        "pushed_authorization_request_endpoint",
        "require_pushed_authorization_requests",
    ]

    def validate_pushed_authorization_request_endpoint(self) -> None:
        """The URL of the endpoint; it MUST use https."""
        url = self.get("pushed_authorization_request_endpoint")
        if url and not url.startswith("https://"):
            raise ValueError('"pushed_authorization_request_endpoint" MUST use "https" scheme')

    def validate_require_pushed_authorization_requests(self) -> None:
        """Whether every authorization request must be pushed; false when omitted."""
        validate_boolean_value(self, "require_pushed_authorization_requests")


def metadata(endpoint: str, *, required: bool) -> dict[str, Any]:
    """The metadata members of RFC 9126 §5."""
    return {
        "pushed_authorization_request_endpoint": endpoint,
        "require_pushed_authorization_requests": required,
    }
