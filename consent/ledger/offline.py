"""Verify a JSON Lines export of the ledger offline (docs/architecture.md, "The ledger").

:func:`verify_export` checks the export line by line with two
:class:`~consent.ledger.rfc9162.CompactRange` (O(log n) memory): one over the leaf hashes
recomputed from the entries, one over the ``leaf_hash`` values the export claims. When the
recomputed root misses the signed root but the claimed one matches it, the claimed leaves are
authentic (the head signs them) and the first entry whose own hash differs is the first changed
entry.

Nothing here needs a database: no module in this one's import closure imports SQLAlchemy, so an
auditor's machine needs only the specification, the keys and the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consent.ledger import rfc9162
from consent.ledger.encoding import unb64
from consent.ledger.heads import SignedTreeHead, read_head
from consent.ledger.jwk import KeyFormatError, pick_key, public_key_from_jwk, thumbprint
from consent.ledger.report import MAX_PROBLEMS, Problem, Report


class _Prefix:
    """The roots of the first ``size`` leaves, taken while streaming."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.actual: bytes | None = rfc9162.EMPTY_ROOT if size == 0 else None
        self.claimed: bytes | None = self.actual

    def take(self, actual: rfc9162.CompactRange, claimed: rfc9162.CompactRange) -> None:
        if actual.size == self.size:
            self.actual, self.claimed = actual.root(), claimed.root()


_DECODER = json.JSONDecoder()


def _entry_leaf(
    raw: bytes | str,
    index: int,
    entry: dict[str, Any],
    claimed: bytes | None,
    claimed_text: Any,
) -> bytes:
    """Return the leaf hash of ``entry``: SHA-256(0x00 || its RFC 8785 bytes).

    The exporter writes each entry's stored canonical text verbatim after a fixed prefix. When
    the hash of that very text is the leaf the line claims, the text *is* the committed
    canonical form, and re-serialising it (pure-Python RFC 8785, most of the verify time at
    10^6 entries) would only reproduce it. Anything else takes the full path.
    """
    if claimed is not None and isinstance(claimed_text, str):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        prefix = f'{{"type":"entry","index":{index},"leaf_hash":"{claimed_text}","entry":'
        if text.startswith(prefix):
            try:
                parsed, end = _DECODER.raw_decode(text, len(prefix))
            except ValueError:
                parsed, end = None, 0
            if parsed == entry:
                leaf = rfc9162.leaf_hash(text[len(prefix) : end].encode())
                if leaf == claimed:
                    return leaf
    return rfc9162.leaf_hash(rfc8785.dumps(entry))


def verify_export(
    lines: Iterable[bytes | str],
    *,
    public_keys: Mapping[str | None, Ed25519PublicKey] | None = None,
    previous: SignedTreeHead | None = None,
) -> Report:
    """Check a JSON Lines export offline: entries, order, root, signature, consistency.

    A complete export must hold entries 0 .. tree_size-1 in order; a filtered one (its head
    line says ``"filter"``) must hold increasing indexes, each with a valid inclusion proof.
    """
    report = Report()
    actual, claimed = rfc9162.CompactRange(), rfc9162.CompactRange()
    claimed_complete = True
    first_leaf_mismatch: int | None = None
    prefix = _Prefix(previous.tree_size) if previous is not None else None
    proof_roots: dict[tuple[int, bytes | None], int] = {}
    gap: Problem | None = None  # the first break of 0, 1, 2, ... (fatal unless filtered)
    disorder: Problem | None = None  # the first index not above the one before
    unproven: int | None = None  # the first entry without an inclusion proof
    head_line: dict[str, Any] | None = None
    expected, last = 0, -1
    for number, raw in enumerate(lines, start=1):
        try:
            line = json.loads(raw)
        except ValueError:
            line = None
        if head_line is not None:
            report.fail(
                f"line {number} follows the tree head: something was appended",
                line.get("index") if isinstance(line, dict) else None,
            )
            continue
        if not isinstance(line, dict):
            report.fail(f"line {number} is not a JSON object (after entry {last})", last + 1)
            gap = gap or Problem("the export cannot be read past that line", last + 1)
            continue
        if line.get("type") == "tree_head":
            head_line = line
            continue
        index, entry = line.get("index"), line.get("entry")
        if (
            line.get("type") != "entry"
            or not isinstance(index, int)
            or isinstance(index, bool)
            or not isinstance(entry, dict)
        ):
            report.fail(f"line {number} is neither an entry nor the tree head", last + 1)
            gap = gap or Problem("the export cannot be read past that line", last + 1)
            continue
        report.entries += 1
        if index <= last and disorder is None:
            disorder = Problem(f"entry {index} is out of order (it follows entry {last})", index)
        if index != expected and gap is None:
            gap = (
                Problem(
                    f"entry {expected} is missing (entry {index} follows entry {expected - 1})",
                    expected,
                )
                if index > expected
                else Problem(
                    f"entry {index} is repeated or out of order (it follows entry {expected - 1})",
                    index,
                )
            )
        expected, last = index + 1, index
        claimed_leaf = unb64(line.get("leaf_hash"))
        leaf = _entry_leaf(raw, index, entry, claimed_leaf, line.get("leaf_hash"))
        if entry.get("index") != index:
            report.fail(f"entry {index} was moved: its own index says {entry.get('index')}", index)
        if claimed_leaf is None or len(claimed_leaf) != rfc9162.HASH_SIZE:
            claimed_complete = False
            claimed_leaf = leaf
        elif claimed_leaf != leaf and first_leaf_mismatch is None:
            first_leaf_mismatch = index
        proof = line.get("inclusion_proof")
        if isinstance(proof, dict):
            path = [unb64(h) for h in proof.get("audit_path") or []]
            size = proof.get("tree_size")
            root = (
                rfc9162.root_from_inclusion(leaf, index, size, [h for h in path if h is not None])
                if isinstance(size, int) and None not in path
                else None
            )
            if len(proof_roots) < 10 * MAX_PROBLEMS:
                proof_roots.setdefault((size if isinstance(size, int) else -1, root), index)
        elif unproven is None:
            unproven = index
        if gap is None:
            actual.append(leaf)
            claimed.append(claimed_leaf)
            if prefix is not None:
                prefix.take(actual, claimed)

    if head_line is None:
        report.fail(
            f"the export has no tree head: it is incomplete (interrupted or cut short "
            f"after entry {last})"
        )
        return report
    head_data = head_line.get("tree_head")
    head = read_head(head_data)
    if head is None:
        report.fail("the tree head line holds no signed tree head")
        return report
    report.tree_size, report.root = head.tree_size, head.root_hash
    keys = public_keys if public_keys else _file_keys(report, head, head_data)
    key = pick_key(keys, head.key_id) if keys else None
    if key is not None and not head.verify(key):
        report.fail(f"the tree head's signature does not verify with key {head.key_id}")
    elif keys and key is None:
        report.fail(f"no public key given has the head's kid {head.key_id}")

    if "filter" in head_line:
        if disorder is not None:
            report.fail(disorder.message, disorder.entry)
        if unproven is not None:
            report.fail(f"entry {unproven} carries no inclusion proof", unproven)
        bad = [
            first
            for (size, root), first in proof_roots.items()
            if size != head.tree_size or root != head.root_hash
        ]
        if bad:
            report.fail(
                f"entry {min(bad)} is not in the signed tree: its inclusion proof fails", min(bad)
            )
        report.notes.append(
            "a filtered export: each entry is proven in the signed tree, but "
            "entries the filters left out cannot be checked"
        )
        if previous is not None:
            report.fail(
                "a filtered export cannot be checked against --previous-head; "
                "export without filters"
            )
        return report
    if gap is not None:
        report.fail(gap.message, gap.entry)
        return report

    if actual.size < head.tree_size:
        report.fail(
            f"entry {actual.size} is missing: the head covers {head.tree_size} entries, "
            f"the export holds {actual.size}",
            actual.size,
        )
    elif actual.size > head.tree_size:
        report.fail(
            f"entry {head.tree_size} is not covered by the tree head (it covers "
            f"{head.tree_size} entries): entries were added",
            head.tree_size,
        )
    elif actual.root() != head.root_hash:
        if (
            first_leaf_mismatch is not None
            and claimed_complete
            and claimed.root() == head.root_hash
        ):
            report.fail(
                f"entry {first_leaf_mismatch} was changed: it does not hash to the "
                "signed tree's leaf",
                first_leaf_mismatch,
            )
        else:
            report.fail(
                "the entries do not hash to the signed root: an entry was changed "
                "(the export carries no authentic leaf hashes to name it)"
            )
    elif first_leaf_mismatch is not None:
        report.fail(
            f"entry {first_leaf_mismatch}'s leaf_hash does not match the entry", first_leaf_mismatch
        )

    if previous is not None and prefix is not None:
        _check_previous(
            report,
            previous,
            prefix,
            head,
            keys or {},
            first_leaf_mismatch if claimed_complete else None,
        )
    return report


def _file_keys(
    report: Report, head: SignedTreeHead, head_data: object
) -> dict[str | None, Ed25519PublicKey]:
    """The key the export carries with its head (it proves nothing until compared with the
    broker's published JWKS: a forger would ship a key of their own)."""
    jwk = head_data.get("jwk") if isinstance(head_data, Mapping) else None
    if not isinstance(jwk, Mapping):
        report.fail("the export carries no public key: give one with --public-key")
        return {}
    try:
        key = public_key_from_jwk(jwk)
    except KeyFormatError as exc:
        report.fail(f"the export's public key is unusable: {exc}")
        return {}
    # The kid is the key's RFC 7638 thumbprint: a key of a forger's own, put under the broker's
    # kid, has another thumbprint.
    if thumbprint(key) != head.key_id:
        report.fail(
            f"the export's key is not the head's key {head.key_id!r}: its RFC 7638 thumbprint "
            f"is {thumbprint(key)!r}"
        )
        return {}
    report.notes.append(
        f"the key was not pinned: the signature was checked with the key the export carries "
        f"(kid {head.key_id}, its thumbprint); compare it with the broker's JWKS, or pass "
        "--public-key"
    )
    return {head.key_id: key}


def _check_previous(
    report: Report,
    previous: SignedTreeHead,
    prefix: _Prefix,
    head: SignedTreeHead,
    keys: Mapping[str | None, Ed25519PublicKey],
    first_leaf_mismatch: int | None,
) -> None:
    key = keys.get(previous.key_id)
    if key is not None:
        if not previous.verify(key):
            report.fail("the previous head's signature does not verify")
    else:
        report.notes.append(
            f"the previous head is signed by key {previous.key_id}, which is "
            "not among the keys given: its signature was not checked"
        )
    if previous.tree_size > head.tree_size or prefix.actual is None:
        report.fail(
            f"not consistent with the previous head: it covers {previous.tree_size} "
            f"entries, the export only {report.entries}: entries were removed",
            report.entries,
        )
    elif prefix.actual != previous.root_hash:
        if (
            first_leaf_mismatch is not None
            and first_leaf_mismatch < previous.tree_size
            and prefix.claimed == previous.root_hash
        ):
            report.fail(
                f"not consistent with the previous head: entry {first_leaf_mismatch} "
                "differs from the log it signed",
                first_leaf_mismatch,
            )
        else:
            report.fail(
                f"not consistent with the previous head: the first "
                f"{previous.tree_size} entries do not hash to its root"
            )
