"""The citizen's consents as their wallet shows them: their own, and their children's.

A citizen sees a consent when it is theirs, or a minor child's they answer for now
(:mod:`consent.wards`). A consent whose end has passed reads as expired before
:func:`consent.lifecycle.expire_due_consents` records it, so the wallet never shows an
ended consent as active.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from consent.erasure_requests import requests_of
from consent.extension import extension_end
from consent.history import HistoryPage, ReadFilter, history_page
from consent.lifecycle import Actor
from consent.models import Consent, ConsentStatus, ErasureRequest, Purpose, Receipt, Service
from consent.receipts import ReceiptKind
from consent.wards import wards_in_force

#: A paused consent is still granted: it stays among the services that may read.
IN_FORCE = (ConsentStatus.ACTIVE, ConsentStatus.PAUSED)
#: How many of its latest reads a consent's page shows; the access history has them all.
CONSENT_READS = 20

ConsentRow = tuple[Consent, Service, Purpose]


def _rows() -> Select[Consent, Service, Purpose]:
    return (
        select(Consent, Service, Purpose)
        .join(Service, Service.id == Consent.service_id)
        .join(Purpose, Purpose.code == Consent.purpose_code)
    )


def effective_status(consent: Consent, now: datetime) -> ConsentStatus:
    """The consent's status at ``now``: one in force past its end is expired."""
    status = ConsentStatus(consent.status)
    if status in IN_FORCE and consent.expires_at and consent.expires_at <= now:
        return ConsentStatus.EXPIRED
    return status


def days_left(consent: Consent, now: datetime) -> int:
    """Whole days left, rounded up: a consent of 90 days reads "90 days" the day it is given."""
    if consent.expires_at is None:
        return 0
    return max(0, math.ceil((consent.expires_at - now).total_seconds() / 86400))


def is_reference(value: str) -> bool:
    """Consent and receipt ids are short URL-safe strings; anything else matches nothing."""
    return 0 < len(value) <= 40 and value.isascii() and value.isprintable()


def actor_for(citizen_id: int, consent: Consent) -> Actor:
    """How the ledger names who acted on ``consent``: its subject, or their parent."""
    return Actor.SUBJECT if consent.subject_id == citizen_id else Actor.GUARDIAN


def consents_of(session: Session, subject_ids: Collection[int]) -> list[ConsentRow]:
    """The consents of these subjects with their service and purpose, the newest first."""
    rows = session.execute(
        _rows().where(Consent.subject_id.in_(subject_ids)).order_by(Consent.requested_at.desc())
    ).all()
    return [(consent, service, purpose) for consent, service, purpose in rows]


def own_consent(
    session: Session, citizen_id: int, consent_id: str, now: datetime
) -> ConsentRow | None:
    """The consent, if it is the citizen's own or one of a child they answer for now."""
    if not is_reference(consent_id):
        return None
    row = session.execute(
        _rows().where(
            Consent.id == consent_id,
            or_(
                Consent.subject_id == citizen_id,
                Consent.subject_id.in_(wards_in_force(citizen_id, now)),
            ),
        )
    ).one_or_none()
    return (row[0], row[1], row[2]) if row else None


@dataclass(frozen=True)
class Dashboard:
    """The citizen's own consents: those in force, and the rest (their history)."""

    in_force: list[ConsentRow]
    ended: list[ConsentRow]


def dashboard(session: Session, citizen_id: int, now: datetime) -> Dashboard:
    """The citizen's own consents, the newest first, split by whether they are in force."""
    rows = consents_of(session, [citizen_id])
    return Dashboard(
        in_force=[row for row in rows if effective_status(row[0], now) in IN_FORCE],
        ended=[row for row in rows if effective_status(row[0], now) not in IN_FORCE],
    )


@dataclass(frozen=True)
class ConsentPage:
    """One consent with everything its page shows."""

    consent: Consent
    service: Service
    purpose: Purpose
    status: ConsentStatus
    receipts: list[Receipt]
    #: Its latest reads (a child's consent has the child's reads, shown to the parent).
    reads: HistoryPage
    #: Where an extension would move its end, or None when it cannot be extended.
    extended_until: datetime | None
    erasure_requests: list[ErasureRequest]
    may_ask_erasure: bool


def consent_page(
    session: Session, citizen_id: int, consent_id: str, now: datetime
) -> ConsentPage | None:
    """One of the citizen's consents (or a child's) for its page; None if not theirs."""
    found = own_consent(session, citizen_id, consent_id, now)
    if found is None:
        return None
    consent, service, purpose = found
    receipts = session.scalars(
        select(Receipt).where(Receipt.consent_id == consent.id).order_by(Receipt.issued_at)
    ).all()
    return ConsentPage(
        consent=consent,
        service=service,
        purpose=purpose,
        status=effective_status(consent, now),
        receipts=list(receipts),
        reads=history_page(
            session, consent.subject_id, ReadFilter(consent_id=consent.id), limit=CONSENT_READS
        ),
        extended_until=extension_end(consent, purpose, now),
        erasure_requests=requests_of(session, consent.id),
        may_ask_erasure=consent.decided_at is not None and consent.status != ConsentStatus.DENIED,
    )


@dataclass(frozen=True)
class Withdrawal:
    """A consent the citizen has withdrawn, and the signed receipt of the withdrawal."""

    consent: Consent
    service: Service
    purpose: Purpose
    receipt: Receipt | None


def withdrawal_of(
    session: Session, citizen_id: int, consent_id: str, now: datetime
) -> Withdrawal | ConsentRow | None:
    """The withdrawal of one of the citizen's consents; the consent itself when it is not
    withdrawn; None when it is not theirs."""
    found = own_consent(session, citizen_id, consent_id, now)
    if found is None or found[0].status != ConsentStatus.REVOKED:
        return found
    consent, service, purpose = found
    receipt = session.scalar(
        select(Receipt).where(
            Receipt.consent_id == consent.id, Receipt.kind == ReceiptKind.REVOCATION
        )
    )
    return Withdrawal(consent, service, purpose, receipt)
