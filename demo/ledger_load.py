"""``serdika demo load``: fill the ledger with synthetic data reads, for benchmarks.

Entries are appended in batches: one write transaction per batch bumps ``ledger_head`` by the
batch size and inserts the batch's rows with one ``executemany``. The head's row lock
(PostgreSQL) or the writer queue (SQLite) orders a batch against every other append exactly as
it orders single appends, so indexes stay consecutive and gapless even while the broker
serves. Then the sequencer integrates them into the tree and signs a head.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from consent.ledger import entries as ledger
from consent.ledger.heads import SignedTreeHead
from consent.models import LedgerHead
from consent.types import utcnow

DEFAULT_BATCH = 5000
_HEAD = cast(Table, LedgerHead.__table__)
SERVICES = ("kindergartens", "social-assistance", "parking-permits", "library")
PURPOSES = ("kindergarten_enrolment", "social_assistance", "parking_permit", "library_card")
FIELDS = (
    ["given_name", "family_name"],
    ["birth_date"],
    ["address"],
    ["given_name", "family_name", "birth_date", "address"],
)


class LedgerDatabase(Protocol):
    """The broker's database as the load needs it (``broker.db.Database`` is one)."""

    def sessions(self) -> Session: ...

    def writing(self, session: Session) -> AbstractContextManager[Any]: ...


#: Integrates waiting entries and signs a head; None when another sequencer holds the lock.
Sequencer = Callable[[], SignedTreeHead | None]


@dataclass(frozen=True)
class LoadResult:
    first_index: int
    entries: int
    append_seconds: float
    sequence_seconds: float
    head: SignedTreeHead | None


def _bump(size: int) -> Any:
    return (
        update(_HEAD)
        .where(_HEAD.c.id == 1)
        .values(size=_HEAD.c.size + size)
        .returning(_HEAD.c.size)
    )


def synthetic_row(index: int, at: datetime) -> dict[str, object]:
    """A data:read entry like the broker's (pseudonymous subject, field names only)."""
    n = index % len(SERVICES)
    subject = hashlib.sha256(b"demo-subject-%d" % (index % 9973)).hexdigest()[:43]
    return ledger.entry_row(
        index,
        ledger.LedgerEvent.DATA_READ,
        at=at,
        consent_id=f"cns_demo{index % 50021:08d}",
        service=SERVICES[n],
        details={
            "subject": subject,
            "purpose": PURPOSES[n],
            "connector": "civil_registry",
            "resource": "person",
            "fields": FIELDS[index % len(FIELDS)],
        },
    )


def append_batch(db: LedgerDatabase, count: int, *, at: datetime) -> int:
    """Append ``count`` synthetic entries in one write transaction; return the first index."""
    with db.sessions() as session, db.writing(session):
        connection = session.connection()
        end = int(connection.execute(_bump(count)).scalar_one())
        first = end - count
        step = timedelta(microseconds=1)
        rows = [synthetic_row(first + n, at + n * step) for n in range(count)]
        connection.execute(ledger.INSERT_ENTRY, rows)
    return first


def sequence_all(
    db: LedgerDatabase,
    sequence: Sequencer,
    *,
    progress: Callable[[str], None] | None = None,
    patience: float = 60.0,
) -> SignedTreeHead | None:
    """Sequence until a signed head covers the whole ledger (waiting for another sequencer)."""
    deadline = time.monotonic() + patience
    while True:
        with db.sessions() as session:
            target = ledger.ledger_size(session)
        head = sequence()
        if head is not None and head.tree_size >= target:
            return head
        if progress:
            progress(
                f"sequencer busy elsewhere; head covers "
                f"{head.tree_size if head else '?'} of {target}"
            )
        if time.monotonic() > deadline:
            return head
        time.sleep(0.2)


def load(
    db: LedgerDatabase,
    entries: int,
    *,
    sequence: Sequencer | None,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[str], None] | None = None,
) -> LoadResult:
    """Append ``entries`` synthetic data reads in batches, then sequence them with ``sequence``.

    ``sequence`` None appends only, leaving integration to the servers' sequencers.
    """
    if entries < 0 or batch < 1:
        raise ValueError("entries must be >= 0 and batch >= 1")
    started = time.perf_counter()
    at = utcnow()
    first: int | None = None
    done = 0
    while done < entries:
        count = min(batch, entries - done)
        index = append_batch(db, count, at=at + timedelta(microseconds=done))
        first = index if first is None else first
        done += count
        if progress:
            elapsed = time.perf_counter() - started
            progress(f"appended {done}/{entries} ({done / elapsed:,.0f} entries/s)")
    appended = time.perf_counter()
    head = None
    if sequence is not None:
        if progress:
            progress("integrating into the Merkle tree and signing a head ...")
        head = sequence_all(db, sequence, progress=progress)
    finished = time.perf_counter()
    if first is None:
        with db.sessions() as session:
            first = ledger.ledger_size(session)
    return LoadResult(first, entries, appended - started, finished - appended, head)
