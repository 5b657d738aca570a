"""Bearer token checks for the API: one indexed lookup by the token's hash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.oauth.models import Token
from consent.crypto import token_hash

# RFC 6750 §2.1 b64token; anything else cannot be one of our tokens (and may not even encode).
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class PresentedToken:
    client_id: str
    consent_id: str | None
    scope: str


class TokenRefused(Exception):
    def __init__(self, detail: str, missing: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.missing = missing


def bearer_from(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        raise TokenRefused("no token", missing=True)
    value = value.strip()
    if scheme.lower() != "bearer" or len(value) > 200 or not _B64TOKEN.fullmatch(value):
        raise TokenRefused("The Authorization header must be 'Bearer <access token>'.")
    return value


def check_access_token(session: Session, request: Request, now: datetime) -> PresentedToken:
    """Return the live access token of the request or raise :class:`TokenRefused`."""
    token = bearer_from(request)
    row = session.execute(
        select(Token.client_id, Token.consent_id, Token.scope, Token.access_expires_at,
               Token.revoked_at)
        .where(Token.access_token_hash == token_hash(token))
    ).one_or_none()
    if row is None:
        raise TokenRefused("The access token is not known.")
    client_id, consent_id, scope, expires_at, revoked_at = row
    if revoked_at is not None:
        raise TokenRefused("The access token was revoked.")
    if expires_at <= now:
        raise TokenRefused("The access token has expired.")
    return PresentedToken(client_id, consent_id, scope)
