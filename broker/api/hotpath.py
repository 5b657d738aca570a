"""The data read's hot path as a few prepared Core statements (DESIGN.md, performance notes).

One indexed query reads the token, the live consent and the subject's sealed identifier
together; :func:`consent.decisions.evaluate` then decides on that live state, exactly as
:func:`consent.decisions.decide_access` does for the other paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from broker.oauth.models import Token
from consent.crypto import token_hash
from consent.decisions import ConsentState
from consent.models import Consent, Service, Subject

_READ_GRANT = (
    select(
        Token.client_id,
        Token.access_expires_at,
        Token.revoked_at,
        Token.consent_id,
        Service.client_id,
        Consent.status,
        Consent.expires_at,
        Consent.scope,
        Consent.subject_id,
        Consent.subject_pairwise,
        Consent.subject_pseudonym,
        Consent.purpose_code,
        Subject.national_id_ciphertext,
    )
    .select_from(Token)
    .outerjoin(Consent, Consent.id == Token.consent_id)
    .outerjoin(Service, Service.id == Consent.service_id)
    .outerjoin(Subject, Subject.id == Consent.subject_id)
    .where(Token.access_token_hash == bindparam("digest"))
)


class TokenRefused(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Grant:
    """A live access token with its consent's state, as read in one statement."""

    client_id: str
    consent: ConsentState | None
    sealed_national_id: bytes | None


def read_grant(connection: Connection, token: str, now: datetime) -> Grant:
    """Return the token's grant, or raise :class:`TokenRefused` for an unusable token."""
    row = connection.execute(_READ_GRANT, {"digest": token_hash(token)}).one_or_none()
    if row is None:
        raise TokenRefused("The access token is not known.")
    (client_id, expires_at, revoked_at, consent_id, consent_client, status, consent_expires,
     scope, subject_id, pairwise, pseudonym, purpose, sealed) = row
    if revoked_at is not None:
        raise TokenRefused("The access token was revoked.")
    if expires_at <= now:
        raise TokenRefused("The access token has expired.")
    state = None
    if consent_id is not None and status is not None:
        state = ConsentState(consent_id, consent_client, status, consent_expires, scope,
                             subject_id, pairwise, pseudonym, purpose)
    return Grant(client_id, state, sealed)
