"""The broker's prepared hot-path statements (see :mod:`commons.prepared` for the mechanism)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from commons.prepared import Prepared
from consent import quotas
from consent.decisions import LOCK_STATE, ConsentState, Decision
from consent.ledger import entries as ledger

if TYPE_CHECKING:
    from broker.db import Database

__all__ = ["Prepared", "append_prepared", "append_read", "give_back_read", "take_read"]


_BUMP_HEAD = Prepared(ledger.BUMP_HEAD)
_INSERT_ENTRY = Prepared(ledger.INSERT_ENTRY)
_LOCK_STATE = Prepared(LOCK_STATE)


def append_prepared(db: Database, event: ledger.LedgerEvent, *, at: datetime, **entry: Any) -> int:
    """Append a ledger entry in its own queued write transaction (the data read's append).

    The same statements and row as :func:`consent.ledger.entries.append_entry`, run as prepared
    DBAPI statements.
    """
    with db.raw_writing() as connection:
        return _append(connection, db, event, at, entry)


def append_read(
    db: Database,
    consent_id: str,
    decide: Callable[[ConsentState | None], Decision],
    *,
    at: datetime,
    **entry: Any,
) -> Decision:
    """Decide on the consent under its row lock and append ``data:read`` if allowed, in one
    transaction (the contract is :meth:`consent.access_ports.ReadLedger.append_read`)."""
    with db.raw_writing() as connection:
        row = _LOCK_STATE.one_or_none(connection, db.dialect, consent_id=consent_id)
        decision = decide(ConsentState(*row) if row is not None else None)
        if decision.allowed:
            _append(
                connection,
                db,
                ledger.LedgerEvent.DATA_READ,
                at,
                {"consent_id": consent_id, **entry},
            )
    return decision


def _append(
    connection: Any, db: Database, event: ledger.LedgerEvent, at: datetime, entry: dict[str, Any]
) -> int:
    index: int = _BUMP_HEAD.scalar(connection, db.dialect) - 1
    _INSERT_ENTRY.execute(connection, db.dialect, **ledger.entry_row(index, event, at=at, **entry))
    return index


_TAKE_READ = Prepared(quotas.TAKE)
_GIVE_BACK_READ = Prepared(quotas.GIVE_BACK)
_WINDOW_STARTED = Prepared(quotas.WINDOW_STARTED)


def take_read(
    db: Database,
    consent_id: str,
    connector: str,
    resource: str,
    max_reads: int,
    period: timedelta,
    now: datetime,
) -> int | None:
    """Count one read against the consent's frequency limit.

    Return None when the read may go ahead, else the seconds until the limit allows one.
    """
    key = {"consent_id": consent_id, "connector": connector, "resource": resource}
    with db.raw_writing() as connection:
        taken = _TAKE_READ.execute(
            connection,
            db.dialect,
            **quotas.take_parameters(consent_id, connector, resource, max_reads, period, now),
        )
        if taken:
            return None
        started = _WINDOW_STARTED.scalar(connection, db.dialect, **key)
    return quotas.seconds_until_next_window(started, period, now)


def give_back_read(db: Database, consent_id: str, connector: str, resource: str) -> None:
    """Return the unit of a read that failed at the source."""
    with db.raw_writing() as connection:
        _GIVE_BACK_READ.execute(
            connection, db.dialect, consent_id=consent_id, connector=connector, resource=resource
        )
