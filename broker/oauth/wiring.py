"""The whole OAuth wiring in one place, as in Authlib's example server: grants, extensions,
endpoints, token storage, and the routes of the token endpoint and its neighbours.

The authorization endpoint itself is the wallet's consent page (``wallet_ui``), which the
app hands the server built here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from flask import Flask, Response, g, json, request

from broker.oauth import rfc7523
from broker.oauth.client_assertions import private_key_jwt
from broker.oauth.clients import client_secret_basic, query_client
from broker.oauth.consent_grants import ConsentGrants
from broker.oauth.dpop import EXTENSION as DPOP_EXTENSION
from broker.oauth.dpop import BrokerDPoP
from broker.oauth.endpoints import IntrospectionEndpoint, RevocationEndpoint
from broker.oauth.errors import safe_description
from broker.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from broker.oauth.metadata import metadata
from broker.oauth.personal_data import ConsentDetails, PersonalData
from broker.oauth.pushed_requests import PushedAuthorizationEndpoint, PushedAuthorizationRequests
from broker.oauth.server import AuthorizationServer
from broker.oauth.token_store import token_generator, token_saver
from consent.failures import record_failure
from consent.types import utcnow

if TYPE_CHECKING:
    from broker.parts import Broker


def init_oauth(app: Flask, broker: Broker) -> AuthorizationServer:
    """Build the authorization server of ``broker`` and serve its endpoints from ``app``."""
    server = AuthorizationServer(broker)
    server.init_app(
        app,
        query_client=lambda client_id: query_client(broker.db, client_id),
        save_token=token_saver(broker),
    )
    server.register_token_generator("default", token_generator(broker))
    server.register_client_auth_method("client_secret_basic", client_secret_basic)
    # RFC 7523 §2.2: private_key_jwt; the profile decides which methods count (server.py).
    server.register_client_auth_method(rfc7523.METHOD, private_key_jwt(broker))
    details = ConsentDetails(PersonalData(broker))
    # PKCE first: the grant runs its hooks in this order (grants.OrderedHooks).
    grants = ConsentGrants(broker)
    dpop = BrokerDPoP(broker)  # RFC 9449: tokens bound to the key of the request's proof
    server.register_grant(
        AuthorizationCodeGrant, [S256CodeChallenge(required=True), details, grants, dpop]
    )
    server.register_grant(RefreshTokenGrant, [details, grants, dpop])
    server.register_grant(ClientCredentialsGrant, [dpop])
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)
    # RFC 9126: the PAR endpoint, and request_uri at the authorization endpoint.
    server.register_extension(PushedAuthorizationRequests(broker))
    app.extensions["serdika.oauth"] = server
    app.extensions[DPOP_EXTENSION] = dpop
    _register_routes(
        app,
        server,
        json.dumps(
            metadata(
                broker.settings.issuer, details.types, profile=broker.settings.security_profile
            )
        ),
    )
    return server


def _query_string_refused(server: AuthorizationServer) -> Response:
    """Tokens, codes and secrets travel in the body (RFC 6749 §3.2, RFC 9700 §4.3.3), never in
    a URL that proxies and logs keep."""
    return server.handle_error_response(
        None,
        InvalidRequestError(
            "Send the parameters in the form body (application/x-www-form-urlencoded), "
            "not in the query string."
        ),
    )


def _register_routes(app: Flask, server: AuthorizationServer, document: str) -> None:
    db = server.broker.db

    @app.post("/oauth2/token")
    def token_endpoint() -> Response:
        if request.args:
            return _query_string_refused(server)
        # RFC 6749 §3.2: parameters MUST NOT be sent more than once (Authlib takes the first).
        repeated = sorted(name for name, values in request.form.lists() if len(values) > 1)
        if repeated:
            described = f"Parameter(s) sent more than once: {', '.join(repeated)}."
            return server.handle_error_response(
                None, InvalidRequestError(safe_description(described))
            )
        with db.writing():
            return server.create_token_response()

    @app.post("/oauth2/par")
    def pushed_authorization_request_endpoint() -> Response:
        # RFC 9126 §2: form-encoded, authenticated like the token endpoint, and the query
        # string refused like there (the request may name what the citizen is asked for).
        if request.args:
            return _query_string_refused(server)
        with db.writing():
            return server.create_endpoint_response(PushedAuthorizationEndpoint.ENDPOINT_NAME)

    @app.post("/oauth2/introspect")
    def introspection_endpoint() -> Response:
        if request.args:
            return _query_string_refused(server)
        return server.create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME)

    @app.post("/oauth2/revoke")
    def revocation_endpoint() -> Response:
        if request.args:
            return _query_string_refused(server)
        with db.writing():
            return server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)

    @app.get("/.well-known/oauth-authorization-server")
    def authorization_server_metadata() -> Response:
        return Response(document, mimetype="application/json")

    @app.get("/oauth2/jwks")
    def jwks() -> Response:
        keys = server.broker.keys.jwks()
        return Response(json.dumps(keys), mimetype="application/jwk-set+json")

    @app.after_request
    def count_failed_client_authentication(response: Response) -> Response:
        failed = g.pop("failed_client_authentication", None)
        if failed is not None:
            account, address = failed
            with db.writing() as session:
                record_failure(
                    session,
                    account,
                    address,
                    now=utcnow(),
                    window=server.broker.settings.sign_in_window_seconds,
                )
        return response

    @app.errorhandler(OAuth2Error)
    def oauth_error(error: OAuth2Error) -> Response:
        return server.handle_error_response(None, error)
