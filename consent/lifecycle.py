"""The consent state machine; every transition goes through :func:`transition`.

::

    requested ──allow──▶ active ──revoke──▶ revoked
        │                │  ▲                 ▲
        │          pause │  │ resume          │
        │                ▼  │                 │
        │               paused ───revoke──────┘
        └──deny──▶ denied

    active ──expire──▶ expired ◀──expire── paused

An active or paused consent may also be *extended* (:func:`extend_consent`): its status stays,
its end moves later, within what its purpose allows.

Each transition appends its ledger entry in the same transaction as the state change, so the
row and its history never disagree. Active is the only state from which data can be read: a
paused consent is still granted (it keeps its end date and receipts) but refuses every read,
refresh and introspection until the citizen resumes it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from consent.crypto import Keyring, ledger_pseudonym, pairwise_subject
from consent.ledger.entries import LedgerEvent, append_entry
from consent.models import Consent, ConsentStatus, Purpose, Receipt, Service, Subject
from consent.quotas import create_quotas
from consent.receipts import RECEIPT_TYPE, ReceiptKind, ReceiptSigner, receipt_claims
from consent.requests import AccessRequest, duration_end

S = ConsentStatus


class Actor(StrEnum):
    """Who acted on a consent, as its ledger entries say it (``"by"``)."""

    #: The data subject, in their own wallet.
    SUBJECT = "subject"
    #: A parent answering for a minor child (consent.guardianship), never named.
    GUARDIAN = "guardian"
    #: The citizen's account being erased (consent.account_erasure) withdrew it.
    ERASURE = "erasure"
    #: The service gave the access up: it revoked its last refresh token (RFC 7009).
    SERVICE = "service"


TRANSITIONS: dict[tuple[ConsentStatus, ConsentStatus], LedgerEvent] = {
    (S.REQUESTED, S.ACTIVE): LedgerEvent.CONSENT_GRANTED,
    (S.REQUESTED, S.DENIED): LedgerEvent.CONSENT_DENIED,
    (S.ACTIVE, S.REVOKED): LedgerEvent.CONSENT_REVOKED,
    (S.ACTIVE, S.EXPIRED): LedgerEvent.CONSENT_EXPIRED,
    (S.ACTIVE, S.PAUSED): LedgerEvent.CONSENT_PAUSED,
    (S.PAUSED, S.ACTIVE): LedgerEvent.CONSENT_RESUMED,
    (S.PAUSED, S.REVOKED): LedgerEvent.CONSENT_REVOKED,
    (S.PAUSED, S.EXPIRED): LedgerEvent.CONSENT_EXPIRED,
}


class ServiceRef(Protocol):
    """What the lifecycle reads of a service: an ORM row or a plain record will do."""

    @property
    def id(self) -> int: ...
    @property
    def client_id(self) -> str: ...
    @property
    def organisation(self) -> str: ...
    @property
    def name_en(self) -> str: ...


class InvalidTransition(Exception):
    """The consent is not in a state from which this change is possible."""

    def __init__(self, consent_id: str, current: str, wanted: str) -> None:
        super().__init__(f"consent {consent_id} is {current}; it cannot become {wanted}")
        self.current = current
        self.wanted = wanted


class SubjectErased(Exception):
    """The subject's pseudonym key is gone; no new consent can be recorded for them."""


@dataclass(frozen=True)
class DomainContext:
    """What the domain needs from its host: keys, the receipt signer, the issuer URL."""

    keyring: Keyring
    signer: ReceiptSigner


def new_consent_id() -> str:
    return "cns_" + secrets.token_urlsafe(18)


def subject_key(keyring: Keyring, subject: Subject) -> bytes:
    if subject.pseudonym_key_ciphertext is None:
        raise SubjectErased(subject.id)
    return keyring.open(subject.pseudonym_key_ciphertext, b"subject:%d" % subject.id)


def transition(
    session: Session,
    consent: Consent,
    to: ConsentStatus,
    *,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> int:
    """Move ``consent`` to ``to`` if the table allows it; append the event; return its index.

    The update is conditional on the state read, so two racing transitions cannot both win.
    """
    current = ConsentStatus(consent.status)
    event = TRANSITIONS.get((current, to))
    if event is None:
        raise InvalidTransition(consent.id, current, to)
    values: dict[str, Any] = {"status": to}
    if current == S.REQUESTED:
        values["decided_at"] = at
    if to == S.REVOKED:
        values["revoked_at"] = at
        values["revoked_by"] = (details or {}).get("by", Actor.SUBJECT)
    changed = cast(
        CursorResult[Any],
        session.execute(
            update(Consent)
            .where(Consent.id == consent.id, Consent.status == current)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if changed != 1:
        session.refresh(consent)
        raise InvalidTransition(consent.id, consent.status, to)
    for key, value in values.items():
        setattr(consent, key, value)
    service = session.get(Service, consent.service_id)
    return append_entry(
        session,
        event,
        at=at,
        consent_id=consent.id,
        service=service.client_id if service else None,
        details={"subject": consent.subject_pseudonym, **(details or {})},
    )


def record_decision(
    session: Session,
    context: DomainContext,
    *,
    subject: Subject,
    service: ServiceRef,
    request: AccessRequest,
    allow: bool,
    now: datetime,
    decided_by: Subject | None = None,
) -> Consent:
    """Record the citizen's answer to a request: the consent, its events and its receipt.

    ``decided_by`` is the parent who answers for a minor ``subject`` (consent.guardianship);
    the ledger then says ``"by": "guardian"``, never who the parent is.
    """
    key = subject_key(context.keyring, subject)
    by = Actor.GUARDIAN if decided_by is not None and decided_by.id != subject.id else Actor.SUBJECT
    consent = Consent(
        id=new_consent_id(),
        subject_id=subject.id,
        service_id=service.id,
        purpose_code=request.purpose,
        scope=[item.as_dict() for item in request.items],
        duration=request.duration,
        status=S.REQUESTED,
        subject_pairwise=pairwise_subject(key, service.client_id),
        subject_pseudonym=ledger_pseudonym(key),
        requested_at=now,
        expires_at=duration_end(now, request.duration) if allow else None,
        decided_by_subject_id=decided_by.id if by == Actor.GUARDIAN and decided_by else None,
    )
    session.add(consent)
    session.flush()
    names = scope_names(consent.scope)
    append_entry(
        session,
        LedgerEvent.CONSENT_REQUESTED,
        at=now,
        consent_id=consent.id,
        service=service.client_id,
        details={
            "subject": consent.subject_pseudonym,
            "purpose": request.purpose,
            "duration": request.duration,
            "scope": names,
        },
    )
    if not allow:
        transition(session, consent, S.DENIED, at=now, details={"by": by})
        return consent
    granted: dict[str, Any] = {
        "by": by,
        "purpose": request.purpose,
        "scope": names,
        "expires": consent.expires_at.isoformat() if consent.expires_at else None,
    }
    limits = scope_limits(consent.scope)
    if limits:
        granted["constraints"] = limits
    index = transition(session, consent, S.ACTIVE, at=now, details=granted)
    create_quotas(session, consent)
    issue_receipt(
        session, context, consent, service, kind=ReceiptKind.GRANT, at=now, ledger_index=index
    )
    return consent


def revoke_consent(
    session: Session,
    context: DomainContext,
    consent: Consent,
    *,
    now: datetime,
    by: Actor = Actor.SUBJECT,
) -> Consent:
    """Withdraw a consent (GDPR Art. 7(3)); raises :class:`InvalidTransition` unless it is
    active or paused."""
    index = transition(session, consent, S.REVOKED, at=now, details={"by": by})
    service = session.get(Service, consent.service_id)
    assert service is not None
    issue_receipt(
        session, context, consent, service, kind=ReceiptKind.REVOCATION, at=now, ledger_index=index
    )
    return consent


def pause_consent(
    session: Session, consent: Consent, *, now: datetime, by: Actor = Actor.SUBJECT
) -> int:
    """Pause an active consent in force; return the index of its ``consent:paused`` entry.

    Raises :class:`InvalidTransition` if the consent is not active or its term has ended.
    """
    _check_in_term(consent, S.PAUSED, now)
    return transition(session, consent, S.PAUSED, at=now, details={"by": by})


def resume_consent(
    session: Session, consent: Consent, *, now: datetime, by: Actor = Actor.SUBJECT
) -> int:
    """Resume a paused consent in force; return the index of its ``consent:resumed`` entry.

    Raises :class:`InvalidTransition` if the consent is not paused or its term has ended
    (then it only awaits :func:`expire_due_consents`).
    """
    _check_in_term(consent, S.ACTIVE, now)
    return transition(session, consent, S.ACTIVE, at=now, details={"by": by})


def _check_in_term(consent: Consent, to: ConsentStatus, now: datetime) -> None:
    if consent.expires_at is None or consent.expires_at <= now:
        raise InvalidTransition(consent.id, S.EXPIRED, to)


def expire_due_consents(session: Session, *, now: datetime, batch: int = 500) -> int:
    """Mark active or paused consents past their end as expired, with their events; count them.

    Expired consents already act as revoked at decision time; this records the fact.
    """
    count = 0
    while True:
        due = session.scalars(
            select(Consent)
            .where(Consent.status.in_((S.ACTIVE, S.PAUSED)), Consent.expires_at <= now)
            .order_by(Consent.expires_at)
            .limit(batch)
            # Locked before the first append: consent rows, then the ledger's head, as a data
            # read's final decision takes them (consent.decisions.LOCK_STATE).
            .with_for_update()
        ).all()
        for consent in due:
            transition(session, consent, S.EXPIRED, at=consent.expires_at or now)
            count += 1
        session.commit()
        if len(due) < batch:
            return count


def issue_receipt(
    session: Session,
    context: DomainContext,
    consent: Consent,
    service: ServiceRef,
    *,
    kind: ReceiptKind,
    at: datetime,
    ledger_index: int,
) -> Receipt:
    purpose = session.get(Purpose, consent.purpose_code)
    assert purpose is not None
    receipt_id = "rct_" + secrets.token_urlsafe(18)
    claims = receipt_claims(
        receipt_id=receipt_id,
        kind=kind,
        issued_at=at,
        consent_id=consent.id,
        subject_pairwise=consent.subject_pairwise,
        controller=service.organisation,
        service_client_id=service.client_id,
        service_name=service.name_en,
        purpose={
            "code": purpose.code,
            "dpv_iri": purpose.dpv_iri,
            "legal_basis": purpose.legal_basis,
        },
        scope=consent.scope,
        expires_at=consent.expires_at,
        ledger_index=ledger_index,
        issuer=context.signer.issuer,
    )
    receipt = Receipt(
        id=receipt_id,
        consent_id=consent.id,
        kind=kind,
        issued_at=at,
        ledger_index=ledger_index,
        jws=context.signer.sign(claims, RECEIPT_TYPE),
    )
    session.add(receipt)
    return receipt


def scope_limits(scope: list[dict[str, Any]]) -> dict[str, Any]:
    """The limits of each resource of ``scope`` that has any, as the ledger writes them."""
    return {
        f"{item['connector']}.{item['resource']}": item["constraints"]
        for item in scope
        if item.get("constraints")
    }


def scope_names(scope: list[dict[str, Any]]) -> list[str]:
    """The fields of ``scope`` as ``connector.resource.field``, as the ledger writes them."""
    return [
        f"{item['connector']}.{item['resource']}.{name}"
        for item in scope
        for name in item["fields"]
    ]
