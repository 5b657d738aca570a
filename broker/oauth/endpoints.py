"""Token introspection (RFC 7662) and revocation (RFC 7009), for the client that owns the token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc7009 import RevocationEndpoint as BaseRevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as BaseIntrospectionEndpoint
from sqlalchemy import update

from broker.oauth.models import Token
from broker.oauth.rfc9396 import introspection_members
from broker.oauth.token_store import PresentedToken, find_token, has_live_refresh_token
from consent.amendment import STANDING
from consent.decisions import evaluate
from consent.lifecycle import Actor, revoke_consent
from consent.models import Consent
from consent.types import utcnow


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
            "'token_type_hint' must be 'access_token' or 'refresh_token'."
        )


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
        if token.jkt is not None:
            # RFC 9449 §6.2: the key the token is bound to; its type is then DPoP (§5).
            payload["cnf"] = {"jkt": token.jkt}
            if token.presented_as == "access_token":
                payload["token_type"] = "DPoP"  # noqa: S105 (a token type)
        if token.consent_id is not None:
            decision = evaluate(token.consent_state, client_id=token.client_id, now=now)
            if not decision.allowed or decision.state is None:
                return {"active": False}
            payload |= {
                "sub": decision.state.subject_pairwise,
                "consent_id": token.consent_id,
                **introspection_members(token.authorization_details),
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
        broker = self.server.broker
        now = utcnow()
        target = Token.family_id == token.family_id
        if token.presented_as == "access_token":
            target = Token.id == token.id
        # The endpoint runs in the broker's write transaction (broker.oauth.wiring).
        session = broker.db.session
        session.execute(
            update(Token).where(target, Token.revoked_at.is_(None)).values(revoked_at=now)
        )
        if token.presented_as == "refresh_token" and token.consent_id is not None:
            _give_up_when_last(session, broker.domain, token.consent_id, now)
        session.commit()


def _give_up_when_last(session: Any, domain: Any, consent_id: str, now: datetime) -> None:
    """A service that revoked the last refresh token of a consent has given the access up:
    the consent ends, by the service, as the citizen's wallet and the ledger then say (a
    consent nobody can use any more is not left "active")."""
    if has_live_refresh_token(session, consent_id, now):
        return
    consent = session.get(Consent, consent_id, with_for_update=True)
    if consent is not None and consent.status in STANDING:
        revoke_consent(session, domain, consent, now=now, by=Actor.SERVICE)
