"""The broker's prepared hot-path statements (see :mod:`connectors.sql` for the mechanism)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from connectors.sql import Prepared
from consent import ledger

if TYPE_CHECKING:
    from broker.db import Database

__all__ = ["Prepared", "append_prepared"]


_BUMP_HEAD = Prepared(ledger.BUMP_HEAD)
_INSERT_ENTRY = Prepared(ledger.INSERT_ENTRY)


def append_prepared(
    db: Database, event: ledger.LedgerEvent, *, at: datetime, **entry: Any
) -> int:
    """Append a ledger entry in its own queued write transaction (the data read's append).

    The same statements and row as :func:`consent.ledger.append_entry`, run as prepared
    DBAPI statements.
    """
    with db.raw_writing() as connection:
        index: int = _BUMP_HEAD.scalar(connection, db.dialect) - 1
        _INSERT_ENTRY.execute(
            connection, db.dialect, **ledger.entry_row(index, event, at=at, **entry)
        )
    return index
