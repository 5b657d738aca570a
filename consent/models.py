"""Typed SQLAlchemy models of the consent domain.

The current state of a consent is the ``consents`` row; its history is the append-only
``ledger_entries`` table (see :mod:`consent.ledger`), which names subjects by pseudonym only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from consent.types import BigIntegerId, UTCDateTime, int_pk, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ConsentStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    #: Paused by the citizen: still granted, but no read, refresh or introspection succeeds.
    PAUSED = "paused"
    DENIED = "denied"
    REVOKED = "revoked"
    EXPIRED = "expired"


class EmailState(StrEnum):
    """Where a notice's e-mail is: none (no address, the wallet only), waiting, sent, given up."""

    NONE = "none"
    PENDING = "pending"
    #: Claimed by one worker, which is sending it now (``emailed_at`` is the claim's time).
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class ServiceKind(StrEnum):
    SERVICE = "service"
    AUDITOR = "auditor"


class Subject(Base):
    """A citizen: a wallet account, the national identifier encrypted, a pseudonym key."""

    __tablename__ = "subjects"

    id: Mapped[int_pk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    national_id_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary(256))
    # A keyed blind index, so a citizen can be found by national id without decrypting rows.
    national_id_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    # Per-subject key for pseudonyms; destroying it on erasure unlinks every ledger entry.
    pseudonym_key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary(256))
    locale: Mapped[str] = mapped_column(String(8), default="bg")
    # Where notifications are e-mailed, sealed like the national id; None: the wallet only.
    email_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Purpose(Base):
    """A purpose from the catalogue, in both languages, with its legal basis and DPV IRI."""

    __tablename__ = "purposes"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_bg: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_bg: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(64))
    dpv_iri: Mapped[str] = mapped_column(String(255))
    default_duration: Mapped[str] = mapped_column(String(32))
    max_duration: Mapped[str] = mapped_column(String(32))
    retention: Mapped[str] = mapped_column(String(32))


class Service(Base):
    """An OAuth client: a municipal service, an approved company, or an auditor."""

    __tablename__ = "services"

    id: Mapped[int_pk]
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    kind: Mapped[str] = mapped_column(String(16), default=ServiceKind.SERVICE)
    name_bg: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Non-consent scopes the client may ask for with client_credentials (``audit:read``).
    scope: Mapped[str] = mapped_column(String(255), default="")
    default_purpose: Mapped[str | None] = mapped_column(ForeignKey("purposes.code"))
    # How the client authenticates: client_secret_basic, or private_key_jwt (RFC 7523) with
    # its public keys given inline (``jwks``) or fetched from ``jwks_uri``.
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic"
    )
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=ServiceStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ServicePurpose(Base):
    """A purpose a service has been approved to ask consent for."""

    __tablename__ = "service_purposes"

    service_id: Mapped[int] = mapped_column(
        BigIntegerId, ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    purpose_code: Mapped[str] = mapped_column(ForeignKey("purposes.code"), primary_key=True)


class Consent(Base):
    """One consent: who lets which service read what, for which purpose, until when."""

    __tablename__ = "consents"
    __table_args__ = (
        Index("ix_consents_subject_status", "subject_id", "status"),
        Index("ix_consents_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[int] = mapped_column(BigIntegerId, ForeignKey("subjects.id"))
    service_id: Mapped[int] = mapped_column(BigIntegerId, ForeignKey("services.id"), index=True)
    purpose_code: Mapped[str] = mapped_column(ForeignKey("purposes.code"))
    # [{"connector", "resource", "fields": [...], "actions": ["read"]}], as granted.
    scope: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    duration: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    # The subject as this service sees it: stable per service, unlinkable across services.
    subject_pairwise: Mapped[str] = mapped_column(String(64))
    # The subject as the ledger names it (see consent.crypto.ledger_pseudonym).
    subject_pseudonym: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who withdrew it, as its ledger entry says (consent.lifecycle.Actor): the citizen, a
    # parent, an erasure, or the service that gave its access up.
    revoked_by: Mapped[str | None] = mapped_column(String(16))
    # The parent who answered for a minor subject (consent.guardianship); None: the subject.
    decided_by_subject_id: Mapped[int | None] = mapped_column(
        BigIntegerId, ForeignKey("subjects.id")
    )


class ErasureRequest(Base):
    """The citizen asks the service to erase what it received under a consent (GDPR Art. 17).

    Pending until the service acknowledges it through the API; both steps are in the ledger.
    """

    __tablename__ = "erasure_requests"
    __table_args__ = (
        Index("ix_erasure_requests_service_pending", "service_id", "acknowledged_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    service_id: Mapped[int] = mapped_column(BigIntegerId, ForeignKey("services.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ledger_index: Mapped[int] = mapped_column(BigIntegerId)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_ledger_index: Mapped[int | None] = mapped_column(BigIntegerId)


class Notification(Base):
    """Something the citizen should know, listed in the wallet and queued for e-mail.

    ``details`` holds names and references only (a service's client id, a consent id), never
    a personal data value. ``dedupe_key`` makes each notice happen once per subject.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("subject_id", "dedupe_key"),
        Index("ix_notifications_subject_created", "subject_id", "created_at"),
        Index("ix_notifications_email_state", "email_state"),
    )

    id: Mapped[int_pk]
    subject_id: Mapped[int] = mapped_column(BigIntegerId, ForeignKey("subjects.id"))
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    consent_id: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_state: Mapped[str] = mapped_column(String(16), default=EmailState.NONE)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Guardianship(Base):
    """A parent answers for a minor child until the child comes of age (``ends_at``)."""

    __tablename__ = "guardianships"

    guardian_subject_id: Mapped[int] = mapped_column(
        BigIntegerId, ForeignKey("subjects.id"), primary_key=True
    )
    ward_subject_id: Mapped[int] = mapped_column(
        BigIntegerId, ForeignKey("subjects.id"), primary_key=True, index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobCursor(Base):
    """How far a background job has read the ledger (for example, the first-read notices)."""

    __tablename__ = "job_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigIntegerId)


class ReadQuota(Base):
    """The frequency counter of one granted resource of one consent (consent.quotas)."""

    __tablename__ = "read_quotas"

    consent_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("consents.id", ondelete="CASCADE"), primary_key=True
    )
    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reads: Mapped[int] = mapped_column(Integer)


class LedgerEntry(Base):
    """One event, append-only; ``entry`` holds the RFC 8785 bytes that the leaf hash covers."""

    __tablename__ = "ledger_entries"

    index: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(32))
    consent_id: Mapped[str | None] = mapped_column(String(40), index=True)
    service_client_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    entry: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerHead(Base):
    """A single row holding the ledger's size; updating it serialises index assignment."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(BigIntegerId)


class Receipt(Base):
    """A signed consent receipt (JWS) handed to the citizen at grant and at revocation."""

    __tablename__ = "receipts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    # grant | revocation (one each) | extension (one per extension)
    kind: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ledger_index: Mapped[int] = mapped_column(BigIntegerId)
    jws: Mapped[str] = mapped_column(Text)


class LedgerNode(Base):
    """The hash of one perfect subtree of the ledger's Merkle tree (RFC 9162 §2.1.1).

    Key ``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``; such
    a node never changes once complete, so appends only insert, and proofs read O(log n) rows.
    """

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerTree(Base):
    """A single row: how many entries the sequencer has integrated into ``ledger_nodes``."""

    __tablename__ = "ledger_tree"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(BigIntegerId)


class TreeHead(Base):
    """A signed tree head: the root of the first ``tree_size`` leaves (docs/architecture.md)."""

    __tablename__ = "tree_heads"

    tree_size: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[int] = mapped_column(BigIntegerId)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class AuthenticationFailure(Base):
    """One failed authentication (a citizen's sign-in, a client's credentials), counted under
    hashed keys of the account and the address (consent.failures); successes never count.

    The table keeps the name it had when only the wallet counted failures.
    """

    __tablename__ = "wallet_sign_in_failures"
    __table_args__ = (Index("ix_wallet_sign_in_failures_key_at", "key", "at"),)

    id: Mapped[int_pk]
    key: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
