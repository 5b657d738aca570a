"""The authorization server: Authlib's, with the broker's parts and its refusals made safe."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.oauth2 import rfc9207
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    OAuth2Error,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Response, g
from flask import request as flask_request

from broker.oauth.clients import client_auth_methods
from broker.oauth.errors import safe_description
from broker.oauth.rfc7523 import assertion_subject
from broker.oauth.token_store import extend_refresh_tokens, revoke_consent_tokens
from consent.failures import blocked
from consent.types import utcnow

if TYPE_CHECKING:
    from broker.parts import Broker

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

#: How each client authentication method is used, for a client that got it wrong.
AUTHENTICATION_HOWTO = {
    "client_secret_basic": "HTTP Basic: 'Authorization: Basic' with base64(client_id:secret)",
    "client_secret_post": "client_id and client_secret in the form body",
    "private_key_jwt": "a signed client_assertion (RFC 7523)",
    "none": "client_id alone (a public client)",
}


class TooManyFailedAuthentications(InvalidClientError):  # type: ignore[misc]
    """This address has failed too often to authenticate this client: it waits a while."""

    status_code = 429

    def __init__(self, wait: int) -> None:
        super().__init__(
            description="Too many failed authentications of this client from this address; "
            f"try again in {wait // 60} minutes."
        )
        self.wait = wait

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.wait))]


def _presented_client(request: Any) -> str | None:
    """The client a request claims to be, as the failure counter names it: its Basic user
    name, or the (unverified) ``sub`` of its client assertion."""
    try:
        client_id, _ = extract_basic_authorization(request.headers)
    except (UnicodeDecodeError, ValueError):
        return None
    if not client_id:
        client_id = assertion_subject(request.form.get("client_assertion"))
    if not client_id or len(client_id) > 64 or not client_id.isprintable():
        return None
    return "client:" + client_id


def _how_to_authenticate(methods: list[str]) -> str:
    ways = [AUTHENTICATION_HOWTO.get(method, method) for method in methods]
    return "Authenticate the client with " + ", or ".join(ways) + "."


class IssuerParameter(rfc9207.IssuerParameter):
    """RFC 9207: every authorization response names its issuer (FAPI 2.0 §5.3.2.2)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class AuthorizationServer(FlaskAuthorizationServer):
    """What the app hands the wallet: the consent grant, the response, and error redirects."""

    broker: Broker
    issuer_parameter: IssuerParameter
    #: The client authentication methods accepted at every endpoint (broker.oauth.wiring).
    client_auth_methods: list[str]

    def __init__(self, broker: Broker) -> None:
        super().__init__()
        self.broker = broker
        self.client_auth_methods = client_auth_methods(broker.settings.fapi2)
        self.issuer_parameter = IssuerParameter(broker.settings.issuer)
        self.register_extension(self.issuer_parameter)

    def redirect_error(self, error: OAuth2Error) -> Response:
        """Send an authorization error back to its (validated) redirect URI, with ``iss``."""
        response = self.handle_error_response(None, error)
        self.issuer_parameter.add_issuer_parameter(self, response)
        return response

    def create_authorization_response(
        self, request: Any = None, grant_user: Any = None, grant: Any = None
    ) -> Response:
        """Authlib's, with the grant's own request: Authlib reads an error's ``state`` from a
        request it builds anew from the URL, which under PAR holds only ``client_id`` and
        ``request_uri`` (RFC 9126 §4); a refusal must carry the pushed ``state``."""
        if request is None and grant is not None:
            request = grant.request
        response: Response = super().create_authorization_response(request, grant_user, grant)
        if (
            self.broker.settings.fapi2
            and response.status_code == 302
            and flask_request.method == "POST"
        ):
            # FAPI 2.0 §5.3.2.2 item 10 (RFC 9700 §4.12): 303 after a POST, so the browser
            # does not send the wallet's form, with the citizen's answer, on to the service.
            response.status_code = 303
        return response

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> Response:
        response: Response = super().handle_response(status_code, payload, headers)
        response.headers.update(NO_STORE)
        return response

    def consent_replaced(self, session: Any, consent: Any) -> None:
        """Grant Management ``replace``: the consent's earlier tokens stop working."""
        revoke_consent_tokens(session, consent)

    def consent_extended(self, session: Any, consent: Any) -> None:
        """Live refresh tokens of an extended consent now last until its new end."""
        extend_refresh_tokens(session, consent)

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Any:
        """Authlib's, with failures counted (consent.failures) and a client that sent no usable
        credentials told how to, in words (Authlib's description shows a Python list).

        The methods are the server's (:attr:`client_auth_methods`, set by the security
        profile), whatever the endpoint lists: the rules are the same at the token, PAR,
        introspection and revocation endpoints (docs/architecture.md, "OAuth 2.0 at FAPI 2.0
        grade"), and each client may only use the method it was registered with.

        Only a failure looks at the count: a client that authenticates is never slowed, and the
        hot paths (introspection, the token endpoint) spend nothing on it. An address that keeps
        failing gets 429 with ``Retry-After`` instead of 401; guessing a secret of 256 random
        bits is hopeless anyway, what is refused is the stream of attempts.
        """
        methods = self.client_auth_methods
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as error:
            if str(error.description).startswith("The client cannot authenticate with methods"):
                error.description = _how_to_authenticate(list(methods))
                if "client_secret_basic" not in methods and "authorization" in request.headers:
                    # FAPI 2.0 §5.3.2.1: only private_key_jwt (or mTLS), no shared secrets.
                    error.description = (
                        "This server does not accept client secrets (FAPI 2.0 profile). "
                        + error.description
                    )
                    # RFC 6749 §5.2: a client that authenticated through the Authorization
                    # header is answered 401 with a challenge.
                    error.status_code = 401
            account = _presented_client(request)
            if account is None:
                raise
            address = flask_request.remote_addr or "unknown"
            # Written once the endpoint's own transaction is over (broker.oauth.wiring).
            g.failed_client_authentication = (account, address)
            settings = self.broker.settings
            if blocked(
                self.broker.db.session,
                account,
                address,
                now=utcnow(),
                window=settings.sign_in_window_seconds,
                per_account=settings.sign_in_max_failures_per_account,
                per_address=settings.sign_in_max_failures_per_address,
            ):
                raise TooManyFailedAuthentications(settings.sign_in_window_seconds) from error
            raise

    def get_authorization_grant(self, request: Any) -> Any:
        """Authlib's, but an odd ``response_type`` is refused with a 400, not a 500.

        Authlib quotes the raw ``response_type`` in its error description, and its
        ``OAuth2Error`` raises ``ValueError`` for characters RFC 6749 forbids there.
        """
        try:
            return super().get_authorization_grant(request)
        except ValueError:
            pass
        redirect_uri = None
        client = self.query_client(request.payload.client_id)
        requested_uri = request.payload.redirect_uri
        if client is not None and requested_uri and client.check_redirect_uri(requested_uri):
            redirect_uri = requested_uri
        response_type = safe_description(request.payload.response_type or "")
        raise UnsupportedResponseTypeError(
            response_type,
            f"The response type '{response_type}' is not supported.",
            redirect_uri=redirect_uri,
        )
