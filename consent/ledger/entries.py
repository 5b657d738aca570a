"""Append-only ledger entries, designed as the leaves of an RFC 9162 Merkle tree.

Each entry is a JSON object with field *names* only, never values, and the subject as a keyed
pseudonym. Its bytes are the RFC 8785 canonical form, and its leaf hash is
``SHA-256(0x00 || bytes)`` (:func:`consent.ledger.rfc9162.leaf_hash`), so the tree can be built
over stored rows as is.

Indexes are consecutive and gapless: an append increments ``ledger_head.size`` inside the same
transaction, so the row lock (PostgreSQL) or the single writer (SQLite) orders appends, and a
rolled-back append takes its index back with it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

import rfc8785
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from consent.ledger.rfc9162 import leaf_hash
from consent.models import LedgerEntry, LedgerHead

ENTRY_VERSION = 1


class LedgerEvent(StrEnum):
    """Ledger event tags, shaped ``source:action``."""

    CONSENT_REQUESTED = "consent:requested"
    CONSENT_GRANTED = "consent:granted"
    CONSENT_DENIED = "consent:denied"
    CONSENT_PAUSED = "consent:paused"
    CONSENT_RESUMED = "consent:resumed"
    CONSENT_REVOKED = "consent:revoked"
    CONSENT_EXPIRED = "consent:expired"
    CONSENT_EXTENDED = "consent:extended"
    CONSENT_AMENDED = "consent:amended"
    ERASURE_REQUESTED = "erasure:requested"
    ERASURE_ACKNOWLEDGED = "erasure:acknowledged"
    DATA_READ = "data:read"
    DATA_READ_REFUSED = "data:read_refused"
    SUBJECT_ERASED = "subject:erased"
    GUARDIANSHIP_ENDED = "guardianship:ended"


def canonical_bytes(entry: dict[str, Any]) -> bytes:
    """Return the RFC 8785 (JCS) serialisation of ``entry``."""
    return rfc8785.dumps(entry)


_HEAD = cast(Table, LedgerHead.__table__)
_ENTRIES = cast(Table, LedgerEntry.__table__)
ENTRY_COLUMNS = (
    "index",
    "event",
    "consent_id",
    "service_client_id",
    "purpose",
    "recorded_at",
    "entry",
    "leaf_hash",
)
# Built once: the append is on every read's path. The broker also runs these two statements
# as prepared DBAPI statements (broker/prepared.py) with the row from :func:`entry_row`.
BUMP_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(size=_HEAD.c.size + 1).returning(_HEAD.c.size)
)
INSERT_ENTRY = insert(_ENTRIES).values({name: bindparam(name) for name in ENTRY_COLUMNS})


def entry_time(at: datetime) -> str:
    """An entry's ``time``: UTC to the microsecond, with ``Z``."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def entry_row(
    index: int,
    event: LedgerEvent,
    *,
    at: datetime,
    consent_id: str | None = None,
    service: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the ``ledger_entries`` row of entry ``index``: its canonical bytes and leaf hash."""
    entry: dict[str, Any] = {
        "v": ENTRY_VERSION,
        "index": index,
        "event": str(event),
        "time": entry_time(at),
    }
    if consent_id is not None:
        entry["consent"] = consent_id
    if service is not None:
        entry["service"] = service
    if details:
        entry.update(details)
    data = canonical_bytes(entry)
    return {
        "index": index,
        "event": str(event),
        "consent_id": consent_id,
        "service_client_id": service,
        "purpose": entry.get("purpose"),
        "recorded_at": at,
        "entry": data.decode(),
        "leaf_hash": leaf_hash(data),
    }


def append_entry(
    session: Session | Connection,
    event: LedgerEvent,
    *,
    at: datetime,
    consent_id: str | None = None,
    service: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one event and return its index; the caller commits.

    ``details`` must hold names, codes and pseudonyms only: never a personal data value.
    """
    connection = session.connection() if isinstance(session, Session) else session
    index: int = connection.execute(BUMP_HEAD).scalar_one() - 1
    row = entry_row(index, event, at=at, consent_id=consent_id, service=service, details=details)
    connection.execute(INSERT_ENTRY, row)
    return index


def ensure_head(session: Session) -> None:
    """Create the head row of an empty ledger (migrations do this; tests may call it)."""
    if session.get(LedgerHead, 1) is None:
        session.add(LedgerHead(id=1, size=0))
        session.flush()


def ledger_size(session: Session) -> int:
    """Return how many entries the ledger holds (the tree may cover fewer: see ``tree``)."""
    return session.execute(select(LedgerHead.size).where(LedgerHead.id == 1)).scalar_one()


def parse_entry(text: str) -> dict[str, Any]:
    """Read a stored entry's text; an empty dict when it is not a JSON object."""
    try:
        entry = json.loads(text)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}
