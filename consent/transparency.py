"""The ledger's Merkle tree in the store, and its signed tree heads (DESIGN.md, "The ledger").

Entries are appended by every node (see :mod:`consent.ledger`); one sequencer at a time
integrates them into ``ledger_nodes`` (only the complete, perfect subtrees of the RFC 9162
tree, so appending costs O(log n) inserts and a proof O(log n) reads) and signs a head over
the new size. The caller holds the sequencer lock and commits.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from consent import merkle
from consent.ledger import ledger_size
from consent.models import LedgerEntry, LedgerNode, LedgerTree, TreeHead
from consent.receipts import ReceiptSigner

_NODES = cast(Table, LedgerNode.__table__)
INTEGRATION_BATCH = 2000


class LedgerCorrupted(Exception):
    """The stored entries do not form the gapless sequence the tree was built over."""


class SessionNodeReader:
    """Reads stored perfect-subtree hashes (``merkle.NodeReader``) through a session."""

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
        for (level, node_index), digest in merkle.nodes_completed_by_append(
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


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: bytes
    timestamp: int
    key_id: str
    signature: bytes

    def signed_fields(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": base64.b64encode(self.root_hash).decode(),
            "timestamp": self.timestamp,
            "key_id": self.key_id,
        }

    def as_json(self) -> dict[str, Any]:
        """The contract form: hashes and signatures base64, the signature over the rest."""
        return {**self.signed_fields(), "signature": base64.b64encode(self.signature).decode()}

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, rfc8785.dumps(self.signed_fields()))
        except Exception:  # cryptography raises InvalidSignature; anything else is bad too
            return False
        return True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedTreeHead:
        return cls(
            tree_size=int(data["tree_size"]),
            root_hash=base64.b64decode(data["root_hash"], validate=True),
            timestamp=int(data["timestamp"]),
            key_id=str(data["key_id"]),
            signature=base64.b64decode(data["signature"], validate=True),
        )


def sign_head(signer: ReceiptSigner, size: int, root: bytes, at: datetime) -> SignedTreeHead:
    """Sign the RFC 8785 form of the head's fields with the broker's Ed25519 key."""
    unsigned = SignedTreeHead(size, root, int(at.timestamp() * 1000), signer.key_id, b"")
    signature = signer.key.sign(rfc8785.dumps(unsigned.signed_fields()))
    return SignedTreeHead(size, root, unsigned.timestamp, signer.key_id, signature)


def latest_head(session: Session) -> SignedTreeHead | None:
    row = session.scalars(select(TreeHead).order_by(TreeHead.tree_size.desc()).limit(1)).first()
    if row is None:
        return None
    return SignedTreeHead(row.tree_size, row.root_hash, row.timestamp, row.key_id, row.signature)


def publish_head(session: Session, signer: ReceiptSigner, *, now: datetime) -> SignedTreeHead:
    """Integrate what waits and sign a head over it, unless the latest head covers it already."""
    size = integrate_all(session)
    latest = latest_head(session)
    if latest is not None and latest.tree_size == size and latest.key_id == signer.key_id:
        return latest
    head = sign_head(signer, size, merkle.root_hash(SessionNodeReader(session), size), now)
    if latest is None or latest.tree_size != size:
        session.add(
            TreeHead(
                tree_size=head.tree_size,
                root_hash=head.root_hash,
                timestamp=head.timestamp,
                key_id=head.key_id,
                signature=head.signature,
            )
        )
    return head


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(SessionNodeReader(session), index, size)


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    return merkle.consistency_proof(SessionNodeReader(session), first, second)
