"""The citizen's access history ("data tracker"): every read of their data, refused ones too.

Reads are the ledger's ``data:read`` and ``data:read_refused`` entries (:mod:`consent.ledger`).
An entry names its subject by pseudonym only, so a citizen's reads are found through their
consents: one query joins ``ledger_entries`` (on its indexed ``consent_id``) to the consents
whose ``subject_id`` is the citizen's, and to their service and purpose. Another citizen's
reads cannot match, whatever the filter.

Results come newest first, in keyset pages on the ledger index (never ``OFFSET``): a page
read with ``before=i`` holds the entries older than index ``i``, one read with ``after=i`` the
entries newer than ``i``. :func:`iter_history` walks every matching read in such chunks, so an
export holds one chunk in memory however long the history is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from consent.ledger.entries import LedgerEvent
from consent.models import Consent, LedgerEntry, Purpose, Service

READ_EVENTS = (str(LedgerEvent.DATA_READ), str(LedgerEvent.DATA_READ_REFUSED))
PAGE_SIZE = 50
EXPORT_CHUNK = 500


@dataclass(frozen=True)
class ReadFilter:
    """Which reads to list: of a service (``client_id``) or consent, in ``[since, until)``."""

    service: str | None = None
    consent_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AccessRecord:
    """One read of the citizen's data, as the ledger recorded it."""

    index: int
    at: datetime
    refused: bool
    #: Why a read was refused, as the broker wrote it (``revoked``, ``field_not_granted``,
    #: ``outside_date_range``, ``source:SourceUnavailable``...); ``None`` for a read.
    reason: str | None
    consent_id: str
    service: str
    service_name_bg: str
    service_name_en: str
    purpose: str
    purpose_name_bg: str
    purpose_name_en: str
    connector: str
    resource: str
    fields: tuple[str, ...]
    #: The dated window of a read of a time series (``from``, ``to``, ``granularity``).
    window: dict[str, str]

    def service_name(self, locale: str) -> str:
        return self.service_name_bg if locale == "bg" else self.service_name_en

    def purpose_name(self, locale: str) -> str:
        return self.purpose_name_bg if locale == "bg" else self.purpose_name_en


@dataclass(frozen=True)
class HistoryPage:
    """One page of reads, newest first, and the cursors of its neighbours (``None``: none)."""

    records: list[AccessRecord]
    older: int | None = None
    newer: int | None = None


_COLUMNS = (
    LedgerEntry.index,
    LedgerEntry.recorded_at,
    LedgerEntry.event,
    LedgerEntry.entry,
    Consent.id,
    Service.client_id,
    Service.name_bg,
    Service.name_en,
    Purpose.code,
    Purpose.name_bg,
    Purpose.name_en,
)


def reads_of(subject_id: int, where: ReadFilter = ReadFilter()) -> Select[*tuple[Any, ...]]:
    """Build the query of the subject's reads that match ``where``, in no particular order."""
    query: Select[*tuple[Any, ...]] = (
        select(*_COLUMNS)
        .join(Consent, Consent.id == LedgerEntry.consent_id)
        .join(Service, Service.id == Consent.service_id)
        .join(Purpose, Purpose.code == Consent.purpose_code)
        .where(Consent.subject_id == subject_id, LedgerEntry.event.in_(READ_EVENTS))
    )
    if where.service is not None:
        query = query.where(Service.client_id == where.service)
    if where.consent_id is not None:
        query = query.where(LedgerEntry.consent_id == where.consent_id)
    if where.since is not None:
        query = query.where(LedgerEntry.recorded_at >= where.since)
    if where.until is not None:
        query = query.where(LedgerEntry.recorded_at < where.until)
    return query


def _record(row: Any) -> AccessRecord:
    entry = json.loads(row[3])
    refused = row[2] == LedgerEvent.DATA_READ_REFUSED
    return AccessRecord(
        index=row[0],
        at=row[1],
        refused=refused,
        reason=str(entry.get("reason") or "unknown") if refused else None,
        consent_id=row[4],
        service=row[5],
        service_name_bg=row[6],
        service_name_en=row[7],
        purpose=row[8],
        purpose_name_bg=row[9],
        purpose_name_en=row[10],
        connector=str(entry.get("connector", "")),
        resource=str(entry.get("resource", "")),
        fields=tuple(entry.get("fields") or ()),
        window={key: str(entry[key]) for key in ("from", "to", "granularity") if key in entry},
    )


def history_page(
    session: Session,
    subject_id: int,
    where: ReadFilter = ReadFilter(),
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> HistoryPage:
    """Return one page of the subject's reads, newest first.

    With neither cursor, the newest reads; with ``before``, the reads older than that ledger
    index; with ``after``, the reads just newer than it (``before`` wins if both are given).
    """
    query = reads_of(subject_id, where)
    if before is None and after is not None:
        rows = session.execute(
            query.where(LedgerEntry.index > after).order_by(LedgerEntry.index).limit(limit + 1)
        ).all()
        records = [_record(row) for row in rows[:limit]][::-1]
        newer = records[0].index if len(rows) > limit else None
        # Entries at or below ``after`` matched the page this cursor came from.
        return HistoryPage(records, older=records[-1].index if records else after + 1, newer=newer)
    if before is not None:
        query = query.where(LedgerEntry.index < before)
    rows = session.execute(query.order_by(LedgerEntry.index.desc()).limit(limit + 1)).all()
    records = [_record(row) for row in rows[:limit]]
    older = records[-1].index if len(rows) > limit else None
    newer = None
    if before is not None:
        newer = records[0].index if records else before - 1
    return HistoryPage(records, older=older, newer=newer)


def iter_history(
    session: Session,
    subject_id: int,
    where: ReadFilter = ReadFilter(),
    *,
    chunk: int = EXPORT_CHUNK,
) -> Iterator[AccessRecord]:
    """Yield every read of the subject that matches ``where``, newest first, chunk by chunk.

    Each chunk is one short keyset query, so memory stays constant and no cursor is held open
    while the caller writes out what it got. Reads appended meanwhile have higher indexes and
    are not included: the export is the history as it stood when it started.
    """
    before: int | None = None
    while True:
        page = history_page(session, subject_id, where, before=before, limit=chunk)
        yield from page.records
        if page.older is None:
            return
        before = page.older


def services_used(session: Session, subject_id: int) -> list[Service]:
    """Return the services the subject has ever had a consent with, by client id."""
    return list(
        session.scalars(
            select(Service)
            .where(
                Service.id.in_(select(Consent.service_id).where(Consent.subject_id == subject_id))
            )
            .order_by(Service.client_id)
        )
    )
