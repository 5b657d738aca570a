"""Access tokens on the API: parsed from the header (``Bearer``, or ``DPoP`` with its proof,
RFC 9449 §7), then read in one indexed statement.

The statement reads the token, the live consent and the subject's sealed identifier together,
built once and only bound per request (docs/architecture.md, "Performance"). The decision itself is
:func:`consent.decisions.evaluate` on that live state, as for every other path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Request, Response, g, request
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Dialect

from broker.oauth.dpop import current_dpop
from broker.oauth.models import Token
from broker.oauth.rfc9449 import UseDPoPNonceError
from broker.parts import current_broker
from broker.prepared import Prepared
from broker.problems import insufficient_scope, invalid_token, missing_token
from consent.access_ports import AccessGrant, TokenRefused, check_binding
from consent.crypto import token_hash
from consent.decisions import STATE_COLUMNS, ConsentState
from consent.models import Consent, Service, Subject
from consent.types import utcnow

# RFC 6750 §2.1 b64token; anything else cannot be one of our tokens (and may not even encode).
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

_READ_GRANT = Prepared(
    select(
        Token.client_id,
        Token.access_expires_at,
        Token.revoked_at,
        Token.consent_id,
        Subject.national_id_ciphertext,
        Token.jkt,
        *STATE_COLUMNS,
    )
    .select_from(Token)
    .outerjoin(Consent, Consent.id == Token.consent_id)
    .outerjoin(Service, Service.id == Consent.service_id)
    .outerjoin(Subject, Subject.id == Consent.subject_id)
    .where(Token.access_token_hash == bindparam("digest"))
)


def _token_from(request: Request) -> tuple[str, str]:
    """The scheme (``Bearer`` or ``DPoP``) and the token of the Authorization header."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        raise TokenRefused("no token", missing=True)
    value = value.strip()
    scheme = {"bearer": "Bearer", "dpop": "DPoP"}.get(scheme.lower(), "")
    if not scheme or len(value) > 200 or not _B64TOKEN.fullmatch(value):
        raise TokenRefused(
            "The Authorization header must be 'Bearer <access token>' "
            "(or 'DPoP <access token>' with a DPoP proof)."
        )
    return scheme, value


@dataclass(frozen=True)
class PresentedAccess:
    """An access token as presented: its scheme, and for ``DPoP`` the RFC 7638 thumbprint of
    the key of the proof that was checked with it (RFC 9449 §7); None for ``Bearer``."""

    token: str
    scheme: str
    proof_jkt: str | None


def access_token_from(request: Request) -> PresentedAccess | Response:
    """Parse the Authorization header and check a DPoP proof sent with it (``htm``, ``htu``,
    ``ath``, ``iat``, its ``jti`` unused on every node, the nonce); a refusal is the 401 to
    answer. Whether the token is bound to that key is checked where its row is read."""
    try:
        scheme, token = _token_from(request)
    except TokenRefused as refused:
        return missing_token() if refused.missing else invalid_token(refused.detail)
    if scheme == "Bearer":
        return PresentedAccess(token, scheme, None)
    try:
        proof = current_dpop().resource_proof(request, token)
    except OAuth2Error as error:
        nonce = {"DPoP-Nonce": error.nonce} if isinstance(error, UseDPoPNonceError) else None
        return invalid_token(
            str(error.description), scheme="DPoP", error=str(error.error), headers=nonce
        )
    return PresentedAccess(token, scheme, proof.jkt)


def read_grant(connection: Any, dialect: Dialect, token: str, now: datetime) -> AccessGrant:
    """Return the token's grant, or raise :class:`TokenRefused` for an unusable token."""
    row = _READ_GRANT.one_or_none(connection, dialect, digest=token_hash(token))
    if row is None:
        raise TokenRefused("The access token is not known.")
    client_id, expires_at, revoked_at, consent_id, sealed, jkt = row[:6]
    state_values = row[6:]
    if revoked_at is not None:
        raise TokenRefused("The access token was revoked.")
    if expires_at <= now:
        raise TokenRefused("The access token has expired.")
    # The consent's columns are NULL when the token has none or its row is gone.
    state = ConsentState(*state_values) if state_values[0] is not None else None
    return AccessGrant(client_id, consent_id, state, sealed, jkt)


_READ_SCOPED = Prepared(
    select(
        Token.client_id, Token.scope, Token.access_expires_at, Token.revoked_at, Token.jkt
    ).where(Token.access_token_hash == bindparam("digest"))
)


class ScopeMissing(Exception):
    """The token is valid but lacks the scope the endpoint needs."""


def read_scoped_token(
    connection: Any,
    dialect: Dialect,
    token: str,
    scope: str,
    now: datetime,
    proof_jkt: str | None = None,
) -> str:
    """Return the client id of a live token carrying ``scope`` (such as ``audit:read``),
    presented with a proof of its DPoP key if it is bound to one (``proof_jkt``)."""
    row = _READ_SCOPED.one_or_none(connection, dialect, digest=token_hash(token))
    if row is None:
        raise TokenRefused("The access token is not known.")
    client_id, scopes, expires_at, revoked_at, jkt = row
    check_binding(jkt, proof_jkt)
    if revoked_at is not None:
        raise TokenRefused("The access token was revoked.")
    if expires_at <= now:
        raise TokenRefused("The access token has expired.")
    if scope not in (scopes or "").split():
        raise ScopeMissing(scope)
    return str(client_id)


def requires_scope(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Guard a view with a client-credentials token carrying ``scope``; the client's id is
    then ``flask.g.client_id``. Refusals are RFC 6750 challenges with problem+json bodies."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            db = current_broker().db
            presented = access_token_from(request)
            if isinstance(presented, Response):
                return presented
            # A bound token's refusals are DPoP challenges (RFC 9449 §7.1).
            scheme = presented.scheme
            try:
                g.client_id = read_scoped_token(
                    db.raw, db.dialect, presented.token, scope, utcnow(), presented.proof_jkt
                )
            except TokenRefused as refused:
                if refused.proof_of_possession:
                    scheme = "DPoP"
                return invalid_token(refused.detail, scheme=scheme)
            except ScopeMissing:
                return insufficient_scope(
                    f"This needs a token with the scope '{scope}'.", scheme=scheme
                )
            return view(*args, **kwargs)

        return guarded

    return decorate
