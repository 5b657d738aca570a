"""Grant types, tightened: PKCE S256 always, single-use 60-second codes, rotating refresh."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7636 import CodeChallenge
from sqlalchemy import select, update

from broker.oauth.grant_management import QUERY_SCOPE, REVOKE_SCOPE
from broker.oauth.models import AuthorizationCode, Token
from consent.crypto import token_hash
from consent.decisions import Reason, decide_access
from consent.models import Consent, ServiceKind
from consent.requests import GrantedSubject
from consent.types import utcnow


class S256CodeChallenge(CodeChallenge):
    """PKCE with ``S256`` only, required of every client (RFC 9700 §2.1.1, FAPI 2.0 §5.3.2.2).

    Authlib's default accepts ``plain`` and lets confidential clients skip PKCE.
    """

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's attribute

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class OrderedHooks:
    """Run a grant's hooks in the order its extensions registered them.

    Authlib keeps each kind of hook in a set, so two extensions on one hook (PKCE and the
    authorization details, both after the request payload is validated) would run in an
    order that changes from process to process. Here PKCE is always refused first.
    """

    _hooks: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hooks = defaultdict(list)

    def register_hook(self, hook_type: str, hook: Any) -> None:
        if hook not in self._hooks[hook_type]:
            self._hooks[hook_type].append(hook)


class AuthorizationCodeGrant(OrderedHooks, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: Any) -> str:
        """Exact match, always sent; the refusal does not quote the URI.

        Authlib's quotes it, and its ``OAuth2Error`` raises ``ValueError`` (a 500) when the
        URI holds a character RFC 6749 forbids in a description (non-ASCII, NUL, a quote).
        """
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("This 'redirect_uri' is not registered for the client.")
        return str(redirect_uri)

    def save_authorization_code(self, code: str, request: Any) -> None:
        now = utcnow()
        granted: GrantedSubject = request.user
        payload = request.payload.data
        self.server.broker.db.session.add(
            AuthorizationCode(
                code_hash=token_hash(code),
                client_id=request.client.get_client_id(),
                subject_id=granted.subject_id,
                consent_id=granted.consent.id,
                redirect_uri=request.payload.redirect_uri,
                code_challenge=payload["code_challenge"],
                code_challenge_method=payload["code_challenge_method"],
                issued_at=now,
                expires_at=now + timedelta(seconds=self.server.broker.settings.code_ttl),
                # RFC 9449 §10: checked by the DPoP extension when the request was validated.
                dpop_jkt=payload.get("dpop_jkt"),
            )
        )

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        """Consume the code atomically: of two concurrent redemptions exactly one wins.

        A code presented again is a replay (RFC 6749 §4.1.2): refuse it and revoke every
        token issued from it.
        """
        session = self.server.broker.db.session
        now = utcnow()
        digest = token_hash(code)
        consumed = session.execute(
            update(AuthorizationCode)
            .where(
                AuthorizationCode.code_hash == digest,
                AuthorizationCode.client_id == client.get_client_id(),
                AuthorizationCode.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(AuthorizationCode.id)
        ).scalar_one_or_none()
        if consumed is None:
            row = session.scalar(
                select(AuthorizationCode).where(AuthorizationCode.code_hash == digest)
            )
            # Only the client the code was issued to can replay it: another client presenting
            # a code it saw is refused without touching the service's tokens.
            if (
                row is not None
                and row.used_at is not None
                and row.client_id == client.get_client_id()
            ):
                # Revoke what the code issued and what was refreshed from it (same family).
                families = select(Token.family_id).where(Token.authorization_code_id == row.id)
                session.execute(
                    update(Token)
                    .where(Token.family_id.in_(families), Token.revoked_at.is_(None))
                    .values(revoked_at=now)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
                raise InvalidGrantError("The code was used already; its tokens are revoked.")
            return None
        row = session.get(AuthorizationCode, consumed)
        assert row is not None
        session.commit()  # the code is spent even if a later check (PKCE) fails
        if row.expires_at <= now:
            raise InvalidGrantError("The code has expired.")
        return row

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Codes are spent when redeemed (see :meth:`query_authorization_code`)."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> GrantedSubject | None:
        session = self.server.broker.db.session
        consent = session.get(Consent, authorization_code.consent_id)
        decision = decide_access(
            session,
            consent_id=authorization_code.consent_id,
            client_id=authorization_code.client_id,
            now=utcnow(),
        )
        if consent is None or not decision.allowed:
            raise InvalidGrantError("The consent behind this code is no longer in force.")
        self.request.authorization_code_id = authorization_code.id
        return GrantedSubject(authorization_code.subject_id, consent)


class RefreshTokenGrant(OrderedHooks, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        """Spend the refresh token; a second use revokes its family (reuse detection)."""
        session = self.server.broker.db.session
        now = utcnow()
        digest = token_hash(refresh_token)
        row = session.scalar(select(Token).where(Token.refresh_token_hash == digest))
        if row is None:
            return None
        client = self.request.client
        if not row.check_client(client):
            return None
        # A bad scope is refused before the token is spent: a mistake never costs the grant.
        self._validate_token_scope(row)
        # RFC 9449 §5: a bound refresh token needs a proof of its key; refused before it is
        # spent, so that a request without the key cannot use the grant up.
        dpop = getattr(self, "dpop", None)
        if dpop is not None:
            dpop.validate_bound_credential(self, row.jkt)
        if row.refresh_used_at is None and row.consent_id is not None:
            # Refused without being spent: the token works again when the consent resumes.
            paused = decide_access(
                session, consent_id=row.consent_id, client_id=row.client_id, now=now
            )
            if paused.reason == Reason.PAUSED:
                return None
        spent = session.execute(
            update(Token)
            .where(Token.id == row.id, Token.refresh_used_at.is_(None), Token.revoked_at.is_(None))
            .values(refresh_used_at=now, revoked_at=now)
        ).rowcount
        if spent != 1:
            if row.refresh_used_at is not None:
                session.execute(
                    update(Token)
                    .where(Token.family_id == row.family_id, Token.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            session.commit()
            return None
        session.commit()
        if row.refresh_expires_at is None or row.refresh_expires_at <= now:
            return None
        assert row.consent_id is not None
        decision = decide_access(
            session, consent_id=row.consent_id, client_id=row.client_id, now=now
        )
        if not decision.allowed:
            return None
        self.request.family_id = row.family_id
        return row

    def authenticate_user(self, refresh_token: Token) -> GrantedSubject | None:
        session = self.server.broker.db.session
        consent = session.get(Consent, refresh_token.consent_id)
        if consent is None or refresh_token.subject_id is None:
            return None
        return GrantedSubject(refresh_token.subject_id, consent)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Already done: :meth:`authenticate_refresh_token` spent and revoked the old row."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """For auditors: scopes such as ``audit:read``, limited to what the client was given."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

    def validate_requested_scope(self) -> None:
        asked = set((self.request.payload.scope or "").split())
        service = self.request.client.service
        allowed = set(service.scope.split())
        if service.kind == ServiceKind.SERVICE:
            # Grant Management (draft §6): any registered service may manage its own grants.
            allowed |= {QUERY_SCOPE, REVOKE_SCOPE}
        if not allowed or not asked <= allowed:
            raise InvalidScopeError("The client may not ask for this scope.")

    @hooked  # type: ignore[misc]  # the extensions' hooks (RFC 9449) run as on Authlib's
    def create_token_response(self) -> tuple[int, dict[str, Any], Any]:
        scope = self.request.payload.scope or self.request.client.service.scope
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
