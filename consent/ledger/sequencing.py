"""The sequencer's step: integrate what waits into the tree and sign a head over it.

One sequencer at a time (the broker elects it: see ``broker.sequencer``) calls
:func:`publish_head`; every node reads the stored heads. The caller holds the sequencer lock
and commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.ledger.entries import ledger_size
from consent.ledger.heads import SignedTreeHead, TreeHeadSigner, sign_head
from consent.ledger.tree import integrate_all, root_hash
from consent.models import TreeHead


def head_of_row(row: TreeHead) -> SignedTreeHead:
    """The signed head a ``tree_heads`` row stores."""
    return SignedTreeHead(row.tree_size, row.root_hash, row.timestamp, row.key_id, row.signature)


def latest_head(session: Session) -> SignedTreeHead | None:
    """The signed head of the largest tree, None before the first one."""
    row = session.scalars(select(TreeHead).order_by(TreeHead.tree_size.desc()).limit(1)).first()
    return head_of_row(row) if row is not None else None


def heads_after(session: Session, size: int, limit: int) -> Sequence[SignedTreeHead]:
    """Up to ``limit`` stored heads of trees larger than ``size``, smallest first."""
    rows = session.scalars(
        select(TreeHead).where(TreeHead.tree_size > size).order_by(TreeHead.tree_size).limit(limit)
    ).all()
    return [head_of_row(row) for row in rows]


def head_lags(session: Session, head: SignedTreeHead | None) -> bool:
    """Tell whether entries wait beyond ``head`` (or no head is signed yet): time to sequence."""
    return head is None or ledger_size(session) > head.tree_size


def publish_head(session: Session, signer: TreeHeadSigner, *, now: datetime) -> SignedTreeHead:
    """Integrate what waits and sign a head over it, unless the latest head covers it already."""
    size = integrate_all(session)
    latest = latest_head(session)
    if latest is not None and latest.tree_size == size and latest.key_id == signer.key_id:
        return latest
    head = sign_head(signer, size, root_hash(session, size), now)
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
