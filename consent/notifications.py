"""What the citizen should hear about: listed in the wallet, queued for e-mail.

Four events make a notice: a service asks for the citizen's data, a service reads it for the
first time under a consent, a consent ends within seven days, a service acknowledges an erasure
request; and a fifth, the end of a parent's control when a child comes of age. Each notice
happens once per recipient (a unique ``dedupe_key``), whoever records it and however often.

The first-read and expiring notices are found by scanning (:func:`scan_first_reads` reads the
ledger after a stored cursor, :func:`scan_expiring` the consents index), never on the data
read's hot path. A notice about a minor's consent goes to the parents in charge too.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from commons.clock import city_zone
from consent.crypto import Keyring
from consent.ledger.entries import LedgerEvent
from consent.models import (
    Consent,
    ConsentStatus,
    EmailState,
    Guardianship,
    JobCursor,
    LedgerEntry,
    Notification,
    Service,
    Subject,
)
from consent.wards import in_force

#: A consent ending within this much time gets its "expiring" notice.
EXPIRY_NOTICE = timedelta(days=7)
FIRST_READS_CURSOR = "notifications:first_reads"


class NotificationKind(StrEnum):
    REQUEST = "request"
    FIRST_READ = "first_read"
    EXPIRING = "expiring"
    ERASURE_ACKNOWLEDGED = "erasure_acknowledged"
    COMING_OF_AGE = "coming_of_age"


def email_context(subject_id: int) -> bytes:
    return b"subject-email:%d" % subject_id


def set_email(keyring: Keyring, subject: Subject, address: str | None) -> None:
    """Keep the address sealed like the national id; None stops e-mail."""
    subject.email_ciphertext = (
        keyring.seal(address.encode(), email_context(subject.id)) if address else None
    )


def email_of(keyring: Keyring, subject: Subject) -> str | None:
    if subject.email_ciphertext is None:
        return None
    return keyring.open(subject.email_ciphertext, email_context(subject.id)).decode()


def recipients(session: Session, subject_id: int, now: datetime) -> list[int]:
    """The subject, and the parents who answer for them now."""
    parents = session.scalars(
        select(Guardianship.guardian_subject_id).where(
            Guardianship.ward_subject_id == subject_id, in_force(now)
        )
    ).all()
    return [subject_id, *parents]


def notify(
    session: Session,
    *,
    subject_id: int,
    kind: NotificationKind,
    dedupe_key: str,
    consent_id: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime,
    include_guardians: bool = True,
) -> int:
    """Record the notice for the subject (and their parents); return how many were new.

    A notice already recorded under ``dedupe_key`` is left as it is. The caller commits.
    """
    targets = recipients(session, subject_id, now) if include_guardians else [subject_id]
    with_address = set(
        session.scalars(
            select(Subject.id).where(Subject.id.in_(targets), Subject.email_ciphertext.is_not(None))
        )
    )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created = 0
    for target in targets:
        statement = (
            insert(Notification)
            .values(
                subject_id=target,
                kind=str(kind),
                dedupe_key=dedupe_key,
                consent_id=consent_id,
                details={
                    **(details or {}),
                    **({"about": subject_id} if target != subject_id else {}),
                },
                created_at=now,
                email_state=EmailState.PENDING if target in with_address else EmailState.NONE,
                email_attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["subject_id", "dedupe_key"])
            .returning(Notification.id)
        )
        # What came back was inserted; a conflict returns nothing (rowcount is not reliable
        # across drivers here).
        created += len(session.execute(statement).all())
    return created


def notice_request(session: Session, *, subject_id: int, client_id: str, now: datetime) -> int:
    """Notice a service's request shown to the citizen, once a day per service.

    A request made in their name elsewhere (on a shared computer) shows up in their wallet and
    mail; a page that sends their browser to the request again and again, with a new ``state``
    each time, still makes one notice a day, never a flood.
    """
    day = now.astimezone(city_zone()).date().isoformat()
    fingerprint = hashlib.sha256("\0".join((client_id, day)).encode()).hexdigest()[:40]
    return notify(
        session,
        subject_id=subject_id,
        kind=NotificationKind.REQUEST,
        dedupe_key="request:" + fingerprint,
        details={"service": client_id},
        now=now,
        include_guardians=False,
    )


def scan_first_reads(session: Session, *, now: datetime, batch: int = 1000) -> int:
    """Notice the first read under each consent, from the ledger after the cursor.

    Reads the ledger forward in primary-key ranges up to its end; each consent is noticed
    once, however many reads a page holds.
    """
    cursor = session.get(JobCursor, FIRST_READS_CURSOR)
    if cursor is None:
        cursor = JobCursor(name=FIRST_READS_CURSOR, position=-1)
        session.add(cursor)
        session.flush()
    position = cursor.position
    created = 0
    while True:
        rows = session.execute(
            select(LedgerEntry.index, LedgerEntry.consent_id, LedgerEntry.service_client_id)
            .where(LedgerEntry.index > position, LedgerEntry.event == LedgerEvent.DATA_READ)
            .order_by(LedgerEntry.index)
            .limit(batch)
        ).all()
        if not rows:
            return created
        first_reads: dict[str, str | None] = {}
        for _index, consent_id, service in rows:
            if consent_id:
                first_reads.setdefault(consent_id, service)
        subjects: dict[str, int] = {
            consent_id: subject_id
            for consent_id, subject_id in session.execute(
                select(Consent.id, Consent.subject_id).where(Consent.id.in_(first_reads))
            )
        }
        for consent_id, service in first_reads.items():
            if consent_id in subjects:
                created += notify(
                    session,
                    subject_id=subjects[consent_id],
                    kind=NotificationKind.FIRST_READ,
                    dedupe_key=f"first_read:{consent_id}",
                    consent_id=consent_id,
                    details={"service": service},
                    now=now,
                )
        position = rows[-1][0]
        # Never backwards: another node may have scanned further meanwhile.
        session.execute(
            update(JobCursor)
            .where(JobCursor.name == FIRST_READS_CURSOR, JobCursor.position < position)
            .values(position=position)
            .execution_options(synchronize_session=False)
        )
        if len(rows) < batch:
            return created


def scan_expiring(session: Session, *, now: datetime, batch: int = 500) -> int:
    """Notice active consents that end within :data:`EXPIRY_NOTICE`, once per end date.

    Walks the window in keyset pages of ``(expires_at, id)`` over the status+expiry index, so
    a busy week is read once, not its first page again and again.
    """
    created = 0
    after: tuple[datetime, str] | None = None
    while True:
        query = (
            select(Consent.id, Consent.subject_id, Consent.expires_at, Service.client_id)
            .join(Service, Service.id == Consent.service_id)
            .where(
                Consent.status == ConsentStatus.ACTIVE,
                Consent.expires_at > now,
                Consent.expires_at <= now + EXPIRY_NOTICE,
            )
            .order_by(Consent.expires_at, Consent.id)
            .limit(batch)
        )
        if after is not None:
            query = query.where(
                or_(
                    Consent.expires_at > after[0],
                    and_(Consent.expires_at == after[0], Consent.id > after[1]),
                )
            )
        rows = session.execute(query).all()
        for consent_id, subject_id, expires_at, client_id in rows:
            assert expires_at is not None  # the window above excludes consents without an end
            # Keyed by the end: a consent extended and ending soon again is noticed again.
            created += notify(
                session,
                subject_id=subject_id,
                kind=NotificationKind.EXPIRING,
                dedupe_key=f"expiring:{consent_id}:{expires_at.isoformat()}",
                consent_id=consent_id,
                details={"service": client_id, "expires": expires_at.isoformat()},
                now=now,
            )
            after = (expires_at, consent_id)
        if len(rows) < batch:
            return created


def unread_count(session: Session, subject_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.subject_id == subject_id, Notification.read_at.is_(None))
        )
        or 0
    )


def page_of(
    session: Session,
    subject_id: int,
    *,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[Notification]:
    """The newest notices first, keyset-paged on ``(created_at, id)``."""
    query = (
        select(Notification)
        .where(Notification.subject_id == subject_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    if before is not None:
        at, last_id = before
        query = query.where(
            or_(
                Notification.created_at < at,
                and_(Notification.created_at == at, Notification.id < last_id),
            )
        )
    return list(session.scalars(query))


def mark_all_read(session: Session, subject_id: int, *, now: datetime) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.subject_id == subject_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
