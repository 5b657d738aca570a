"""One store of used ``jti`` values for every node and worker: ``oauth_used_jtis``.

A DPoP proof (RFC 9449 §11.1) and a client assertion (RFC 7523 §3, item 7) may each be used
once. A value is kept, hashed with whose it is (the proof's key, the assertion's client), until
it could no longer be accepted anyway; the primary key makes a second use fail on any node,
and an insert that does nothing on conflict says so without aborting the transaction around
it. Expired rows are deleted on one use in :data:`PURGE_EVERY`, per worker and kind.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from broker.oauth.models import UsedJti
from broker.prepared import Prepared
from consent.types import utcnow

if TYPE_CHECKING:
    from broker.db import Database

PURGE_EVERY = 256


def _insert(dialect: Any) -> Prepared:
    columns = ("kind", "jti_hash", "expires_at")
    values: dict[str, Any] = {name: bindparam(name) for name in columns}
    return Prepared(dialect.insert(UsedJti).values(**values).on_conflict_do_nothing())


_INSERT = {"sqlite": _insert(sqlite), "postgresql": _insert(postgresql)}
_PURGE = Prepared(
    delete(UsedJti).where(UsedJti.kind == bindparam("kind"), UsedJti.expires_at < bindparam("now"))
)


class UsedJtis:
    """The used ``jti`` values of one ``kind`` (``dpop``, ``client_assertion``)."""

    def __init__(self, db: Database, kind: str) -> None:
        self.db = db
        self.kind = kind
        self.purge_every = PURGE_EVERY
        self._uses = itertools.count(1)

    def spend(self, owner: str, jti: str, until: datetime, *, in_request: bool = False) -> bool:
        """Record ``jti`` of ``owner``; True the first time, False when it was used already.

        ``in_request``: in the request's own write transaction (the token endpoint's), so the
        use is committed, or rolled back, with it; otherwise in a short transaction of its own.
        On SQLite a transaction that holds the writers' queue is always used, since a second
        writer would wait for it.
        """
        # A JSON string may hold a lone surrogate: hashed as it came, never a 500.
        digest = hashlib.sha256(f"{owner}\x00{jti}".encode("utf-8", "surrogatepass")).digest()
        row = {"kind": self.kind, "jti_hash": digest, "expires_at": until}
        purge = next(self._uses) % self.purge_every == 0
        if in_request or self.db.holds_writer_queue:
            return self._spend(self.db.session.connection().connection, row, purge)
        with self.db.raw_writing() as connection:
            return self._spend(connection, row, purge)

    def _spend(self, connection: Any, row: dict[str, Any], purge: bool) -> bool:
        inserted = _INSERT[self.db.dialect.name].execute(connection, self.db.dialect, **row)
        if purge:
            _PURGE.execute(connection, self.db.dialect, kind=self.kind, now=utcnow())
        return inserted == 1
