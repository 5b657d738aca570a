"""Verify the ledger's live store (docs/architecture.md, "The ledger"): ``serdika audit verify``.

:func:`verify_store` runs the checks of the offline verifier against the tables, page by page:
every entry against its stored and integrated leaf, the gapless order, the stored tree's nodes
and root, and every signed head as a prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.ledger import rfc9162
from consent.ledger.entries import entry_time, ledger_size, parse_entry
from consent.ledger.heads import SignedTreeHead
from consent.ledger.report import Report
from consent.ledger.sequencing import heads_after
from consent.ledger.tree import LEAF_NODE_OF_ENTRY, SessionNodeReader, tree_size
from consent.models import LedgerEntry, LedgerHead, LedgerNode

PAGE_SIZE = 2000
"""Entries (and signed heads) read per page, one short transaction each."""

SessionFactory = Callable[[], Session]


def _heads(sessions: SessionFactory, extra: SignedTreeHead | None) -> Iterator[SignedTreeHead]:
    """Every stored signed head by size (paged), with ``extra`` merged in."""
    position = -1
    pending = extra
    while True:
        with sessions() as session:
            page = heads_after(session, position, PAGE_SIZE)
        for head in page:
            if pending is not None and pending.tree_size <= head.tree_size:
                yield pending
                pending = None
            yield head
        if len(page) < PAGE_SIZE:
            break
        position = page[-1].tree_size
    if pending is not None:
        yield pending


def verify_store(
    sessions: SessionFactory,
    keys: Mapping[str | None, Ed25519PublicKey],
    *,
    previous: SignedTreeHead | None = None,
) -> Report:
    """Check the stored ledger: every entry against its stored and integrated leaf, the gapless
    order, the stored tree's root, and every signed head (``previous`` too) as a prefix."""
    report = Report()
    with sessions() as session:
        size = ledger_size(session)
        integrated = tree_size(session)
    compact = rfc9162.CompactRange()  # over the entries' own hashes
    tree = rfc9162.CompactRange()  # over the stored tree's leaves
    heads = _heads(sessions, previous)
    next_head = next(heads, None)
    latest: SignedTreeHead | None = None
    broken = False
    computed: dict[rfc9162.NodeKey, bytes] = {}  # the page's completed nodes, to compare

    def check_heads() -> None:
        nonlocal next_head, latest
        while next_head is not None and next_head.tree_size == compact.size:
            head = next_head
            label = (
                "the previous head"
                if head is previous
                else f"the signed head of size {head.tree_size}"
            )
            key = keys.get(head.key_id) or keys.get(None)
            if key is None:
                report.notes.append(
                    f"{label} is signed by key {head.key_id}, which is not "
                    "among the keys given: its signature was not checked"
                )
            elif not head.verify(key):
                report.fail(f"{label}'s signature does not verify")
            if compact.root() != head.root_hash:
                report.fail(f"the entries do not hash to the root of {label}")
            if head is not previous:
                latest = head
            next_head = next(heads, None)

    check_heads()
    if integrated == 0:
        _check_stored_root(sessions, report, compact, integrated)
    position = 0
    while position < size:
        with sessions() as session:
            page = session.execute(
                select(
                    LedgerEntry.index,
                    LedgerEntry.entry,
                    LedgerEntry.leaf_hash,
                    LedgerNode.hash,
                    *INDEXED_COLUMNS,
                )
                .outerjoin(LedgerNode, LEAF_NODE_OF_ENTRY)
                .where(LedgerEntry.index >= position, LedgerEntry.index < size)
                .order_by(LedgerEntry.index)
                .limit(PAGE_SIZE)
            ).all()
        for index, text, stored_leaf, tree_leaf, *columns in page:
            if index != compact.size and not broken:
                report.fail(
                    f"entry {compact.size} is missing (entry {index} follows entry "
                    f"{compact.size - 1})",
                    compact.size,
                )
                broken = True
            report.entries += 1
            data = text.encode()
            leaf = rfc9162.leaf_hash(data)
            entry = parse_entry(text)
            if not entry:
                report.fail(f"entry {index} is not a JSON object", index)
            else:
                if rfc8785.dumps(entry) != data:
                    report.fail(f"entry {index} is not in its canonical (RFC 8785) form", index)
                if entry.get("index") != index:
                    report.fail(
                        f"entry {index} was moved: its own index says {entry.get('index')}", index
                    )
                changed = _changed_columns(entry, columns)
                if changed:
                    report.fail(
                        f"entry {index}'s indexed columns ({', '.join(changed)}) do not say "
                        "what the entry says: filters and the consent history would mislead",
                        index,
                    )
            if leaf != stored_leaf:
                report.fail(
                    f"entry {index} was changed: its text does not hash to its stored leaf hash",
                    index,
                )
            if index < integrated:
                if tree_leaf is None:
                    report.fail(f"the tree lacks the leaf of entry {index}", index)
                elif leaf != tree_leaf:
                    report.fail(
                        f"entry {index} was changed after it entered the tree: it does "
                        "not hash to the tree's leaf",
                        index,
                    )
            if not broken:
                compact.append(leaf)
                if index < integrated:
                    # The stored tree's inner nodes must follow from its own leaves.
                    for key, digest in tree.append(tree_leaf or leaf)[1:]:
                        computed[key] = digest
                check_heads()
                if compact.size == integrated:
                    _check_stored_root(sessions, report, compact, integrated)
        _check_nodes(sessions, report, computed)
        computed.clear()
        if len(page) < PAGE_SIZE:
            break
        position = int(page[-1][0]) + 1

    if not broken and compact.size < size:
        report.fail(
            f"entry {compact.size} is missing: the ledger holds {size} entries", compact.size
        )
    with sessions() as session:
        extra = session.execute(
            select(func.min(LedgerEntry.index)).where(
                (LedgerEntry.index < 0)
                | (
                    LedgerEntry.index
                    >= select(LedgerHead.size).where(LedgerHead.id == 1).scalar_subquery()
                )
            )
        ).scalar_one_or_none()
    if extra is not None:
        report.fail(f"entry {extra} is beyond the ledger's size: a row was inserted", extra)
    if not broken and next_head is not None:
        report.fail(
            f"a signed head covers {next_head.tree_size} entries, more than the "
            f"{compact.size} stored: entries were removed",
            compact.size,
        )
    if integrated > size:
        report.fail(f"the stored tree claims {integrated} entries; the ledger holds {size}")
    if latest is not None:
        report.tree_size, report.root = latest.tree_size, latest.root_hash
        if latest.tree_size > integrated:
            report.fail(
                f"a signed head covers {latest.tree_size} entries but the stored tree only "
                f"{integrated}: the tree's size was changed"
            )
    elif integrated > 0:
        # The sequencer signs a head whenever it integrates: a tree without one lost its heads.
        report.fail(
            f"the tree holds {integrated} entries but no signed head covers them: the signed "
            "heads were deleted"
        )
    else:
        report.notes.append("the ledger has no signed head yet")
    if integrated < size:
        report.notes.append(f"{size - integrated} entries await the sequencer")
    return report


#: The columns the auditor's filters and a consent's history are served from, each with the
#: entry member it copies (consent.ledger.entries.entry_row).
INDEXED_COLUMNS = (
    LedgerEntry.event,
    LedgerEntry.consent_id,
    LedgerEntry.service_client_id,
    LedgerEntry.purpose,
    LedgerEntry.recorded_at,
)


def _changed_columns(entry: Mapping[str, Any], columns: Sequence[Any]) -> list[str]:
    event, consent_id, service, purpose, recorded_at = columns
    expected = {
        "event": (event, entry.get("event")),
        "consent_id": (consent_id, entry.get("consent")),
        "service_client_id": (service, entry.get("service")),
        "purpose": (purpose, entry.get("purpose")),
        "recorded_at": (entry_time(recorded_at) if recorded_at else None, entry.get("time")),
    }
    return [name for name, (stored, said) in expected.items() if stored != said]


def _check_stored_root(
    sessions: SessionFactory, report: Report, compact: rfc9162.CompactRange, integrated: int
) -> None:
    with sessions() as session:
        try:
            stored = rfc9162.root_hash(SessionNodeReader(session), integrated)
        except LookupError as exc:
            report.fail(f"the stored tree is incomplete: {exc}")
            return
    if stored != compact.root():
        report.fail(
            f"the stored tree's nodes do not hash to the root of the first {integrated} entries"
        )


def _check_nodes(
    sessions: SessionFactory, report: Report, computed: Mapping[rfc9162.NodeKey, bytes]
) -> None:
    """Compare the inner nodes the tree's leaves complete with the stored ones (proofs use
    them); the first entry under a wrong node is named."""
    keys = sorted(computed, key=lambda key: (key[1] << key[0], key[0]))
    with sessions() as session:
        reader = SessionNodeReader(session)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            stored = reader.get_nodes(chunk)
            for level, index in chunk:
                if stored.get((level, index)) != computed[(level, index)]:
                    first = index << level
                    report.fail(
                        f"the stored tree node ({level}, {index}) does not hash from "
                        f"entries {first} .. {first + (1 << level) - 1}",
                        first,
                    )
                    return
