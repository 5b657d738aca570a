"""The whole OAuth wiring in one place: grants, endpoints, token storage and metadata."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.oauth2 import rfc9207
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, UnsupportedResponseTypeError
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc7009 import RevocationEndpoint as BaseRevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as BaseIntrospectionEndpoint
from flask import Flask, Response, json, request
from sqlalchemy import Table, bindparam, or_, select, update

from broker.oauth.clients import query_client
from broker.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
    new_family_id,
    safe_description,
)
from broker.oauth.models import Token
from broker.prepared import Prepared
from consent.crypto import new_secret, token_hash
from consent.decisions import STATE_COLUMNS, ConsentState, evaluate
from consent.models import Consent, Service
from consent.requests import DETAILS_TYPE, GrantedSubject
from consent.types import utcnow

if TYPE_CHECKING:
    from broker.db import Database
    from broker.parts import Broker

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class IssuerParameter(rfc9207.IssuerParameter):
    """RFC 9207: every authorization response names its issuer (FAPI 2.0 §5.3.2.2)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class AuthorizationServer(FlaskAuthorizationServer):
    broker: Broker
    issuer_parameter: IssuerParameter

    def redirect_error(self, error: OAuth2Error) -> Response:
        """Send an authorization error back to its (validated) redirect URI, with ``iss``."""
        response = self.handle_error_response(None, error)
        self.issuer_parameter.add_issuer_parameter(self, response)
        return response

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> Response:
        response: Response = super().handle_response(status_code, payload, headers)
        response.headers.update(NO_STORE)
        return response

    def consent_extended(self, session: Any, consent: Any) -> None:
        """Live refresh tokens of an extended consent now last until its new end."""
        session.execute(
            update(Token)
            .where(
                Token.consent_id == consent.id,
                Token.revoked_at.is_(None),
                Token.refresh_token_hash.is_not(None),
            )
            .values(refresh_expires_at=consent.expires_at)
            .execution_options(synchronize_session=False)
        )

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
            response_type, f"The response type '{response_type}' is not supported.",
            redirect_uri=redirect_uri,
        )


def _token_generator(broker: Broker) -> Any:
    def generate(grant_type: str, client: Any, user: GrantedSubject | None = None,
                 scope: str | None = None, expires_in: int | None = None,
                 include_refresh_token: bool = True) -> dict[str, Any]:
        ttl = broker.settings.access_token_ttl
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": new_secret("sat_"),
        }
        if user is not None:
            consent = user.consent
            assert consent.expires_at is not None  # an active consent always has an end
            remaining = int((consent.expires_at - utcnow()).total_seconds())
            ttl = max(1, min(ttl, remaining))
            token["refresh_token"] = new_secret("srt_")
            token["consent_id"] = consent.id
            token["authorization_details"] = [
                {"type": DETAILS_TYPE, **item, "purpose": consent.purpose_code,
                 "duration": consent.duration}
                for item in consent.scope
            ]
        elif scope:
            token["scope"] = scope
        token["expires_in"] = ttl
        return token

    return generate


def _save_token(broker: Broker) -> Any:
    def save(token: dict[str, Any], request: Any) -> None:
        now = utcnow()
        granted: GrantedSubject | None = request.user
        consent = granted.consent if granted else None
        session = broker.db.session
        session.add(
            Token(
                access_token_hash=token_hash(token["access_token"]),
                refresh_token_hash=(
                    token_hash(token["refresh_token"]) if "refresh_token" in token else None
                ),
                client_id=request.client.get_client_id(),
                subject_id=granted.subject_id if granted else None,
                consent_id=consent.id if consent else None,
                authorization_code_id=getattr(request, "authorization_code_id", None),
                family_id=getattr(request, "family_id", None) or new_family_id(),
                scope=token.get("scope", ""),
                authorization_details=token.get("authorization_details"),
                issued_at=now,
                access_expires_at=now + timedelta(seconds=token["expires_in"]),
                refresh_expires_at=consent.expires_at if consent else None,
            )
        )
        session.commit()

    return save


@dataclass(frozen=True)
class PresentedToken:
    """A token row read without the ORM, and whether it was shown as access or refresh token.

    Implements what Authlib's endpoints ask of a token (its ``TokenMixin``).
    """

    id: int
    client_id: str
    consent_id: str | None
    family_id: str
    scope: str
    authorization_details: list[dict[str, Any]] | None
    issued_at: datetime
    access_expires_at: datetime
    refresh_expires_at: datetime | None
    refresh_used_at: datetime | None
    revoked_at: datetime | None
    presented_as: str
    # The live state of the token's consent, read in the same statement as the token.
    consent_state: ConsentState | None = None

    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


_TOKEN_TABLE = cast(Table, Token.__table__)
_RECORD_COLUMNS = [field.name for field in fields(PresentedToken)][:-2]
_FIND_TOKEN = Prepared(
    select(
        *(_TOKEN_TABLE.c[name] for name in _RECORD_COLUMNS),
        _TOKEN_TABLE.c.access_token_hash,
        *STATE_COLUMNS,
    )
    .select_from(_TOKEN_TABLE)
    .outerjoin(Consent, Consent.id == _TOKEN_TABLE.c.consent_id)
    .outerjoin(Service, Service.id == Consent.service_id)
    .where(
        or_(
            _TOKEN_TABLE.c.access_token_hash == bindparam("digest"),
            _TOKEN_TABLE.c.refresh_token_hash == bindparam("digest"),
        )
    )
)


def find_token(db: Database, token_string: str, hint: str | None) -> PresentedToken | None:
    """Look a presented token up by its hash, as an access or a refresh token, in one query.

    The hint is not needed: both hashes are unique and indexed (RFC 7662 §2.1 lets the server
    search beyond the hint).
    """
    digest = token_hash(token_string)
    row = _FIND_TOKEN.one_or_none(db.raw, db.dialect, digest=digest)
    if row is None:
        return None
    count = len(_RECORD_COLUMNS)
    values, access_hash, state = row[:count], row[count], row[count + 1 :]
    kind = "access_token" if access_hash == digest else "refresh_token"
    return PresentedToken(
        *values,  # type: ignore[arg-type]
        presented_as=kind,
        consent_state=ConsentState(*state) if state[0] is not None else None,
    )


class UnsupportedTokenTypeError(OAuth2Error):
    """RFC 7009 §2.2.1, with RFC 6749 §5.2's status 400.

    Authlib's own class is a ``ForbiddenError`` (401), which tells the client its
    authentication failed when only the ``token_type_hint`` was wrong.
    """

    error = "unsupported_token_type"


def _check_token_params(request: Any, *, strict_hint: bool) -> None:
    if "token" not in request.form:
        raise InvalidRequestError("Missing 'token'.")
    hint = request.form.get("token_type_hint")
    if strict_hint and hint and hint not in ("access_token", "refresh_token"):
        raise UnsupportedTokenTypeError(
            "'token_type_hint' must be 'access_token' or 'refresh_token'.")


class IntrospectionEndpoint(BaseIntrospectionEndpoint):
    """RFC 7662, answering only the client that owns the token, from live consent state."""

    CLIENT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

    def check_params(self, request: Any, client: Any) -> None:
        # RFC 7662 §2.1: the hint is only a hint; every token type is searched anyway.
        _check_token_params(request, strict_hint=False)

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        return find_token(self.server.broker.db, token_string, token_type_hint)

    def check_permission(self, token: PresentedToken, client: Any, request: Any) -> bool:
        return token.check_client(client)

    def create_introspection_payload(self, token: PresentedToken | None) -> dict[str, Any]:
        if token is None or token.revoked_at is not None:
            return {"active": False}
        now = utcnow()
        if token.presented_as == "access_token":
            expires_at = token.access_expires_at
        else:
            if token.refresh_used_at is not None:
                return {"active": False}
            expires_at = token.refresh_expires_at or token.access_expires_at
        if expires_at <= now:
            return {"active": False}
        payload: dict[str, Any] = {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer" if token.presented_as == "access_token" else "refresh_token",
            "iat": int(token.issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "iss": self.server.broker.settings.issuer,
        }
        if token.scope:
            payload["scope"] = token.scope
        if token.consent_id is not None:
            decision = evaluate(token.consent_state, client_id=token.client_id, now=now)
            if not decision.allowed or decision.state is None:
                return {"active": False}
            payload |= {
                "sub": decision.state.subject_pairwise,
                "consent_id": token.consent_id,
                "authorization_details": token.authorization_details,
            }
        return payload


class RevocationEndpoint(BaseRevocationEndpoint):
    """RFC 7009; revoking a refresh token revokes its whole family."""

    CLIENT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

    def check_params(self, request: Any, client: Any) -> None:
        _check_token_params(request, strict_hint=True)

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        return find_token(self.server.broker.db, token_string, token_type_hint)

    def authenticate_token(self, request: Any, client: Any) -> PresentedToken | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # RFC 7009 §2.2: another client's token is answered like an unknown one.
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: PresentedToken, request: Any) -> None:
        session = self.server.broker.db.session
        target = Token.family_id == token.family_id
        if token.presented_as == "access_token":
            target = Token.id == token.id
        session.execute(
            update(Token).where(target, Token.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        session.commit()


def _client_secret_basic(query_client: Any, request: Any) -> Any:
    """Authlib's Basic authentication, but credentials that are not UTF-8 fail it (401).

    Authlib decodes the Basic credentials as UTF-8 and lets ``UnicodeDecodeError`` escape,
    which would be a 500.
    """
    try:
        return authenticate_client_secret_basic(query_client, request)
    except UnicodeDecodeError:
        return None


def metadata(issuer: str) -> dict[str, Any]:
    """RFC 8414 authorization server metadata."""
    return {
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
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_details_types_supported": [DETAILS_TYPE],
        "scopes_supported": ["audit:read", "erasure:manage"],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{issuer}/docs",
        "ui_locales_supported": ["bg", "en"],
    }


def init_oauth(app: Flask, broker: Broker) -> AuthorizationServer:
    server = AuthorizationServer()
    server.broker = broker
    server.init_app(
        app,
        query_client=lambda client_id: query_client(broker.db, client_id),
        save_token=_save_token(broker),
    )
    server.register_token_generator("default", _token_generator(broker))
    server.register_client_auth_method("client_secret_basic", _client_secret_basic)
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)
    server.issuer_parameter = IssuerParameter(broker.settings.issuer)
    server.register_extension(server.issuer_parameter)
    app.extensions["serdika.oauth"] = server

    @app.post("/oauth2/token")
    def token_endpoint() -> Response:
        # RFC 6749 §3.2: parameters MUST NOT be sent more than once (Authlib takes the first).
        repeated = sorted(name for name, values in request.form.lists() if len(values) > 1)
        if repeated:
            return server.handle_error_response(None, InvalidRequestError(
                safe_description(f"Parameter(s) sent more than once: {', '.join(repeated)}.")))
        with broker.db.writing():
            return server.create_token_response()

    @app.post("/oauth2/introspect")
    def introspection_endpoint() -> Response:
        return server.create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME)

    @app.post("/oauth2/revoke")
    def revocation_endpoint() -> Response:
        with broker.db.writing():
            return server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)

    @app.get("/.well-known/oauth-authorization-server")
    def authorization_server_metadata() -> Response:
        return Response(json.dumps(metadata(broker.settings.issuer)),
                        mimetype="application/json")

    @app.get("/oauth2/jwks")
    def jwks() -> Response:
        return Response(json.dumps({"keys": [broker.keys.public_jwk()]}),
                        mimetype="application/jwk-set+json")

    @app.errorhandler(OAuth2Error)
    def oauth_error(error: OAuth2Error) -> Response:
        return server.handle_error_response(None, error)

    return server
