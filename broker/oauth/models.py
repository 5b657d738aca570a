"""OAuth rows: authorization codes and tokens, stored as SHA-256 hashes of their secrets."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.models import Base
from consent.types import BigIntegerId, UTCDateTime, int_pk


class AuthorizationCode(Base):
    __tablename__ = "oauth_authorization_codes"

    id: Mapped[int_pk]
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[int] = mapped_column(BigIntegerId, ForeignKey("subjects.id"))
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The DPoP key the code is bound to (RFC 9449 §10, ``dpop_jkt``), if any.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))

    # Authlib's AuthorizationCodeMixin
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return ""


class Token(Base):
    """One token response: an access token and, for consents, a refresh token.

    Refresh tokens rotate: each use marks the row used and issues a new row in the same
    ``family_id``; presenting a used refresh token again revokes the whole family (RFC 9700
    §4.14.2).
    """

    __tablename__ = "oauth_tokens"
    __table_args__ = (Index("ix_oauth_tokens_family", "family_id"),)

    id: Mapped[int_pk]
    access_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    refresh_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[int | None] = mapped_column(BigIntegerId, ForeignKey("subjects.id"))
    consent_id: Mapped[str | None] = mapped_column(ForeignKey("consents.id"), index=True)
    authorization_code_id: Mapped[int | None] = mapped_column(
        BigIntegerId, ForeignKey("oauth_authorization_codes.id"), index=True
    )
    family_id: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(255), default="")
    authorization_details: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refresh_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The RFC 7638 thumbprint of the DPoP key the tokens are bound to (RFC 9449 ``cnf.jkt``);
    # None: bearer tokens.
    jkt: Mapped[str | None] = mapped_column(String(64))

    # Authlib's TokenMixin
    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.access_expires_at.timestamp() - self.issued_at.timestamp())

    def is_expired(self) -> bool:
        return self.access_expires_at.timestamp() <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class PushedRequest(Base):
    """A pushed authorization request (RFC 9126): its parameters, until its request_uri is
    used once or expires. The request_uri is stored as a SHA-256 hash, like tokens."""

    __tablename__ = "oauth_pushed_requests"

    id: Mapped[int_pk]
    request_uri_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UsedJti(Base):
    """A ``jti`` seen once (a DPoP proof, a client assertion), kept until it could no longer be
    accepted anyway: every node and worker refuses it again (RFC 9449 §11.1, RFC 7523 §3)."""

    __tablename__ = "oauth_used_jtis"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    jti_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
