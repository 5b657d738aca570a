"""The ledger's Merkle tree in the store, and proofs read from it (docs/architecture.md).

Entries are appended by every node (see :mod:`consent.ledger.entries`); one sequencer at a
time integrates them into ``ledger_nodes`` (only the complete, perfect subtrees of the RFC 9162
tree, so appending costs O(log n) inserts and a proof O(log n) reads). The caller holds the
sequencer lock and commits (see :mod:`consent.ledger.sequencing`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from consent.ledger import rfc9162
from consent.ledger.entries import ledger_size
from consent.models import LedgerEntry, LedgerNode, LedgerTree

_NODES = cast(Table, LedgerNode.__table__)
INTEGRATION_BATCH = 2000
LEAF_NODE_OF_ENTRY = and_(LedgerNode.level == 0, LedgerNode.index == LedgerEntry.index)
"""Join condition: an entry's leaf in the stored tree (its level-0 node), once integrated."""


class LedgerCorrupted(Exception):
    """The stored entries do not form the gapless sequence the tree was built over."""


class SessionNodeReader:
    """Reads stored perfect-subtree hashes (``rfc9162.NodeReader``) through a session."""

    def __init__(self, session: Session, pending: Mapping[tuple[int, int], bytes] | None = None):
        self.session = session
        self.pending = pending if pending is not None else {}
        self.reads = 0

    def get_nodes(self, keys: Collection[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        wanted = [key for key in keys if key not in self.pending]
        found = {key: self.pending[key] for key in keys if key in self.pending}
        if wanted:
            self.reads += len(wanted)
            by_level: dict[int, list[int]] = {}
            for level, index in wanted:
                by_level.setdefault(level, []).append(index)
            # One "level = ? AND index IN (...)" per level: each term is a primary-key range
            # lookup. (A row-value IN over (level, index) made SQLite scan the whole table.)
            rows = self.session.execute(
                select(LedgerNode.level, LedgerNode.index, LedgerNode.hash).where(
                    or_(
                        *(
                            and_(LedgerNode.level == level, LedgerNode.index.in_(indexes))
                            for level, indexes in by_level.items()
                        )
                    )
                )
            )
            found.update({(level, index): digest for level, index, digest in rows})
        return found


def tree_size(session: Session) -> int:
    """How many entries the tree covers (entries beyond it await the sequencer)."""
    return session.execute(select(LedgerTree.size).where(LedgerTree.id == 1)).scalar_one()


def integrate(session: Session, *, batch: int = INTEGRATION_BATCH) -> int:
    """Integrate up to ``batch`` waiting entries into the tree; return the new tree size."""
    start = session.execute(
        select(LedgerTree.size).where(LedgerTree.id == 1).with_for_update()
    ).scalar_one()
    leaves = session.execute(
        select(LedgerEntry.index, LedgerEntry.leaf_hash)
        .where(LedgerEntry.index >= start, LedgerEntry.index < start + batch)
        .order_by(LedgerEntry.index)
    ).all()
    if not leaves:
        return int(start)
    pending: dict[tuple[int, int], bytes] = {}
    reader = SessionNodeReader(session, pending)
    rows: list[dict[str, Any]] = []
    for expected, (index, leaf) in enumerate(leaves, start=start):
        if index != expected:
            raise LedgerCorrupted(f"ledger entry {expected} is missing")
        for (level, node_index), digest in rfc9162.nodes_completed_by_append(
            index, leaf, reader.get_nodes
        ):
            pending[(level, node_index)] = digest
            rows.append({"level": level, "index": node_index, "hash": digest})
    session.execute(insert(_NODES), rows)
    size = start + len(leaves)
    session.execute(update(LedgerTree).where(LedgerTree.id == 1).values(size=size))
    return int(size)


def integrate_all(session: Session) -> int:
    """Integrate every waiting entry, batch by batch (the caller commits)."""
    target = ledger_size(session)
    size = tree_size(session)
    while size < target:
        size = integrate(session)
    return size


def root_hash(session: Session, size: int) -> bytes:
    """Return the root of the stored tree's first ``size`` leaves (RFC 9162 §2.1.1)."""
    return rfc9162.root_hash(SessionNodeReader(session), size)


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    """Return the audit path of entry ``index`` in the stored tree of ``size`` (§2.1.3.1)."""
    return rfc9162.inclusion_proof(SessionNodeReader(session), index, size)


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    """Return the proof that the stored tree of ``second`` extends that of ``first`` (§2.1.4.1)."""
    return rfc9162.consistency_proof(SessionNodeReader(session), first, second)
