"""Tokens: how they are made, stored as hashes, and found again when a client presents one."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, or_, select, update

from broker.oauth.models import Token
from broker.oauth.personal_data import granted_details
from broker.prepared import Prepared
from consent.crypto import new_secret, token_hash
from consent.decisions import STATE_COLUMNS, ConsentState
from consent.models import Consent, Service
from consent.requests import GrantedSubject
from consent.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from broker.db import Database
    from broker.parts import Broker


def new_family_id() -> str:
    """A refresh-token family: a token and every token refreshed from it (RFC 9700 §4.14.2)."""
    return "fam_" + secrets.token_urlsafe(15)


def token_generator(broker: Broker) -> Callable[..., dict[str, Any]]:
    """Authlib's token generator: opaque secrets; consent tokens end with their consent."""

    def generate(
        grant_type: str,
        client: Any,
        user: GrantedSubject | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
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
        elif scope:
            token["scope"] = scope
        token["expires_in"] = ttl
        return token

    return generate


def token_saver(broker: Broker) -> Callable[[dict[str, Any], Any], None]:
    """Authlib's ``save_token``: one row per token response, secrets hashed."""

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
                # What the token response says it grants (broker.oauth.personal_data).
                authorization_details=granted_details(consent) if consent else None,
                issued_at=now,
                access_expires_at=now + timedelta(seconds=token["expires_in"]),
                refresh_expires_at=consent.expires_at if consent else None,
                # RFC 9449 §5: bound to the key of the request's proof (broker.oauth.rfc9449).
                jkt=getattr(request, "dpop_jkt", None),
            )
        )
        session.commit()

    return save


def extend_refresh_tokens(session: Session, consent: Consent) -> None:
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


def revoke_consent_tokens(session: Session, consent: Consent) -> None:
    """Revoke every live token of ``consent`` (its scope was replaced)."""
    session.execute(
        update(Token)
        .where(Token.consent_id == consent.id, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def has_live_refresh_token(session: Session, consent_id: str, now: datetime) -> bool:
    """Whether any refresh token of the consent can still be used."""
    return (
        session.scalar(
            select(Token.id)
            .where(
                Token.consent_id == consent_id,
                Token.revoked_at.is_(None),
                Token.refresh_token_hash.is_not(None),
                Token.refresh_expires_at > now,
            )
            .limit(1)
        )
        is not None
    )


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
    # The thumbprint of the DPoP key the token is bound to (RFC 9449 §6), or None.
    jkt: str | None
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
        *values,  # type: ignore[arg-type, misc]
        presented_as=kind,
        consent_state=ConsentState(*state) if state[0] is not None else None,
    )
