"""Asking a service to erase what it received under a consent (GDPR Art. 17).

Withdrawing a consent stops future reads; it does not make the service forget what it read.
The citizen can ask for that too: the request is recorded (a row and an ``erasure:requested``
ledger entry) and stays *pending* until the service acknowledges it through the API, which
appends ``erasure:acknowledged``. At most one request per consent is pending at a time, so a
double submit asks once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from consent.ledger.entries import LedgerEvent, append_entry
from consent.lifecycle import Actor
from consent.models import Consent, ConsentStatus, ErasureRequest, Service
from consent.notifications import NotificationKind, notify

#: A service received data only under a consent that was granted at some point.
ONCE_GRANTED = (
    ConsentStatus.ACTIVE,
    ConsentStatus.PAUSED,
    ConsentStatus.REVOKED,
    ConsentStatus.EXPIRED,
)


class ErasureNotPossible(Exception):
    """The consent was never granted: the service received nothing to erase."""


class UnknownErasureRequest(Exception):
    """No such request addressed to this service."""


def new_request_id() -> str:
    return "era_" + secrets.token_urlsafe(18)


def pending_request(session: Session, consent_id: str) -> ErasureRequest | None:
    return session.scalar(
        select(ErasureRequest).where(
            ErasureRequest.consent_id == consent_id, ErasureRequest.acknowledged_at.is_(None)
        )
    )


def requests_of(session: Session, consent_id: str) -> list[ErasureRequest]:
    """The consent's erasure requests, the newest first."""
    return list(
        session.scalars(
            select(ErasureRequest)
            .where(ErasureRequest.consent_id == consent_id)
            .order_by(ErasureRequest.requested_at.desc(), ErasureRequest.id)
        )
    )


def request_erasure(
    session: Session, consent: Consent, *, now: datetime, by: Actor = Actor.SUBJECT
) -> ErasureRequest:
    """Record the citizen's request; return the pending one when there is one already."""
    if consent.status not in ONCE_GRANTED:
        raise ErasureNotPossible(consent.id)
    pending = pending_request(session, consent.id)
    if pending is not None:
        return pending
    service = session.get(Service, consent.service_id)
    assert service is not None
    request_id = new_request_id()
    index = append_entry(
        session,
        LedgerEvent.ERASURE_REQUESTED,
        at=now,
        consent_id=consent.id,
        service=service.client_id,
        details={"subject": consent.subject_pseudonym, "request": request_id, "by": by},
    )
    request = ErasureRequest(
        id=request_id,
        consent_id=consent.id,
        service_id=service.id,
        requested_at=now,
        ledger_index=index,
    )
    session.add(request)
    session.flush()
    return request


def acknowledge(
    session: Session, service_id: int, request_id: str, *, now: datetime
) -> tuple[ErasureRequest, bool]:
    """The service confirms it erased what it received; return the request and whether this
    call acknowledged it (False: it was acknowledged before, nothing changes).

    The update is conditional, so two racing acknowledgements append one entry and notify
    the citizen (and the parents of a minor) once.
    """
    request = _of_service(session, service_id, request_id)
    if request.acknowledged_at is not None:
        return request, False
    consent = session.get(Consent, request.consent_id)
    service = session.get(Service, service_id)
    assert consent is not None and service is not None
    changed = cast(
        CursorResult[Any],
        session.execute(
            update(ErasureRequest)
            .where(ErasureRequest.id == request.id, ErasureRequest.acknowledged_at.is_(None))
            .values(acknowledged_at=now)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if changed != 1:
        session.refresh(request)
        return request, False
    index = append_entry(
        session,
        LedgerEvent.ERASURE_ACKNOWLEDGED,
        at=now,
        consent_id=consent.id,
        service=service.client_id,
        details={"subject": consent.subject_pseudonym, "request": request.id},
    )
    session.execute(
        update(ErasureRequest)
        .where(ErasureRequest.id == request.id)
        .values(acknowledged_ledger_index=index)
        .execution_options(synchronize_session=False)
    )
    request.acknowledged_at = now
    request.acknowledged_ledger_index = index
    notify(
        session,
        subject_id=consent.subject_id,
        kind=NotificationKind.ERASURE_ACKNOWLEDGED,
        dedupe_key=f"erasure_acknowledged:{request.id}",
        consent_id=consent.id,
        details={"service": service.client_id},
        now=now,
    )
    return request, True


@dataclass(frozen=True)
class ServiceView:
    """One request as its service sees it: the citizen by the service's pairwise id only."""

    request: ErasureRequest
    subject: str


def for_service(
    session: Session,
    service_id: int,
    *,
    pending_only: bool,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[ServiceView]:
    """A page of the service's requests, oldest first (keyset on ``(requested_at, id)``)."""
    query = (
        select(ErasureRequest, Consent.subject_pairwise)
        .join(Consent, Consent.id == ErasureRequest.consent_id)
        .where(ErasureRequest.service_id == service_id)
        .order_by(ErasureRequest.requested_at, ErasureRequest.id)
        .limit(limit)
    )
    if pending_only:
        query = query.where(ErasureRequest.acknowledged_at.is_(None))
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                ErasureRequest.requested_at > at,
                and_(ErasureRequest.requested_at == at, ErasureRequest.id > last_id),
            )
        )
    return [ServiceView(request, pairwise) for request, pairwise in session.execute(query)]


def one_for_service(session: Session, service_id: int, request_id: str) -> ServiceView:
    request = _of_service(session, service_id, request_id)
    consent = session.get(Consent, request.consent_id)
    assert consent is not None
    return ServiceView(request, consent.subject_pairwise)


def _of_service(session: Session, service_id: int, request_id: str) -> ErasureRequest:
    request = session.get(ErasureRequest, request_id) if _plausible(request_id) else None
    # Another service's request is as unknown as a made-up one: ids reveal nothing.
    if request is None or request.service_id != service_id:
        raise UnknownErasureRequest(request_id)
    return request


def _plausible(request_id: str) -> bool:
    return 0 < len(request_id) <= 40 and request_id.isascii() and request_id.isprintable()
