"""Ledger exports and their verification (DESIGN.md, "The ledger"): no Flask, constant memory.

Exports are streamed page by page (keyset pagination on the entry index) into one of three
writers:

* **JSON Lines**, the verifiable form: one ``{"type": "entry", "index": N, "leaf_hash": ...,
  "entry": {...}}`` line per entry, the entry being the stored RFC 8785 text as is and
  ``leaf_hash`` the tree's own leaf (the level-0 node the sequencer integrated), then one
  ``{"type": "tree_head", "tree_head": {..., "jwk": {...}}}`` line. A filtered export holds a
  subset of the entries, so it cannot prove completeness: its head line says ``"filter"`` and
  each entry line also carries ``"inclusion_proof": {"leaf_index", "tree_size",
  "audit_path"}`` against the head.
* **CSV**, one row per entry, for spreadsheets.
* **JSON-LD**, consent records shaped after ISO/IEC TS 27560 in W3C DPV terms.

:func:`verify_export` checks a JSON Lines export offline, line by line, with two
:class:`~consent.merkle.CompactRange` (O(log n) memory): one over the leaf hashes recomputed
from the entries, one over the ``leaf_hash`` values the export claims. When the recomputed root
misses the signed root but the claimed one matches it, the claimed leaves are authentic (the
head signs them) and the first entry whose own hash differs is the first changed entry.
:func:`verify_store` runs the same checks against the live tables.
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from consent import merkle
from consent.ledger import LedgerEvent, ledger_size
from consent.models import LedgerEntry, LedgerHead, LedgerNode, TreeHead
from consent.transparency import SessionNodeReader, SignedTreeHead, inclusion_proof, tree_size

PAGE_SIZE = 2000
"""Entries read per page (one short transaction each) by exports and the live verifier."""
FORMATS = ("jsonl", "csv", "jsonld")
MAX_PROBLEMS = 50
"""Problems kept in a report; more are only counted, so a wrecked log costs no memory."""

SessionFactory = Callable[[], Session]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- public keys ------------------------------------------------------------------------------


class KeyFormatError(ValueError):
    """A JWK or JWKS that holds no usable Ed25519 public key."""


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    """Read an Ed25519 ``OKP`` JWK (RFC 8037)."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise KeyFormatError("not an Ed25519 public JWK (kty OKP, crv Ed25519)")
    try:
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise KeyFormatError(f"the JWK's key is unreadable: {exc}") from exc


def keys_from_document(document: object) -> dict[str | None, Ed25519PublicKey]:
    """The Ed25519 keys of a JWK or a JWKS, by ``kid`` (None for a JWK without one)."""
    if not isinstance(document, Mapping):
        raise KeyFormatError("a public key is a JSON object: a JWK or a JWKS")
    candidates = document.get("keys") if "keys" in document else [document]
    if not isinstance(candidates, list):
        raise KeyFormatError("a JWKS holds a list under 'keys'")
    keys: dict[str | None, Ed25519PublicKey] = {}
    for jwk in candidates:
        if isinstance(jwk, Mapping) and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            kid = jwk.get("kid")
            keys[kid if isinstance(kid, str) else None] = public_key_from_jwk(jwk)
    if not keys:
        raise KeyFormatError("no Ed25519 public key (kty OKP, crv Ed25519) found")
    return keys


def pick_key(keys: Mapping[str | None, Ed25519PublicKey], key_id: str) -> Ed25519PublicKey | None:
    """The key named ``key_id``, else one without a name, else the only key there is."""
    if key_id in keys:
        return keys[key_id]
    if None in keys:
        return keys[None]
    return next(iter(keys.values())) if len(keys) == 1 else None


# --- exporting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFilter:
    since: datetime | None = None
    until: datetime | None = None
    service: str | None = None

    @property
    def active(self) -> bool:
        return self.since is not None or self.until is not None or self.service is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "service": self.service,
        }

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.since is not None:
            conditions.append(LedgerEntry.recorded_at >= self.since)
        if self.until is not None:
            conditions.append(LedgerEntry.recorded_at < self.until)
        if self.service is not None:
            conditions.append(LedgerEntry.service_client_id == self.service)
        return conditions


@dataclass(frozen=True)
class ExportRow:
    index: int
    text: str
    """The stored RFC 8785 text, written as is."""
    leaf: bytes | None
    """The tree's leaf (level-0 node) of this index, None if not integrated."""
    proof: list[bytes] | None = None
    proof_size: int = 0


_NODE0 = and_(LedgerNode.level == 0, LedgerNode.index == LedgerEntry.index)


def iter_rows(
    sessions: SessionFactory,
    size: int,
    filters: ExportFilter = ExportFilter(),
    *,
    page_size: int | None = None,
) -> Iterator[ExportRow]:
    """Yield the entries ``[0, size)`` that pass ``filters``, a page per short transaction.

    A filtered export also gets each entry's inclusion proof in the tree of ``size``.
    """
    page_size = page_size or PAGE_SIZE
    position = 0
    while position < size:
        with sessions() as session:
            page = session.execute(
                select(LedgerEntry.index, LedgerEntry.entry, LedgerNode.hash)
                .outerjoin(LedgerNode, _NODE0)
                .where(
                    LedgerEntry.index >= position, LedgerEntry.index < size, *filters.conditions()
                )
                .order_by(LedgerEntry.index)
                .limit(page_size)
            ).all()
            for index, text, leaf in page:
                proof = inclusion_proof(session, index, size) if filters.active else None
                yield ExportRow(int(index), text, leaf, proof, size)
        if len(page) < page_size:
            return
        position = int(page[-1][0]) + 1


class Writer(Protocol):
    def begin(self) -> None: ...

    def write(self, row: ExportRow) -> None: ...

    def finish(self, head: Mapping[str, Any], filters: ExportFilter) -> None: ...


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class JsonlWriter:
    """The verifiable layout of DESIGN.md; the entry text is written as stored, not re-encoded."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def begin(self) -> None:
        pass

    def write(self, row: ExportRow) -> None:
        parts = [f'{{"type":"entry","index":{row.index}']
        if row.leaf is not None:
            parts.append(f',"leaf_hash":"{b64(row.leaf)}"')
        if row.proof is not None:
            proof = {
                "leaf_index": row.index,
                "tree_size": row.proof_size,
                "audit_path": [b64(h) for h in row.proof],
            }
            parts.append(f',"inclusion_proof":{_compact(proof)}')
        parts.append(f',"entry":{row.text}}}\n')
        self.out.write("".join(parts))

    def finish(self, head: Mapping[str, Any], filters: ExportFilter) -> None:
        line: dict[str, Any] = {"type": "tree_head", "tree_head": dict(head)}
        if filters.active:
            line["filter"] = filters.as_json()
        self.out.write(_compact(line) + "\n")


def _parse(text: str) -> dict[str, Any]:
    try:
        entry = json.loads(text)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def _field_names(entry: Mapping[str, Any]) -> list[str]:
    names = entry.get("fields", entry.get("scope"))
    return [str(name) for name in names] if isinstance(names, list) else []


CSV_COLUMNS = (
    "index",
    "event",
    "time",
    "service",
    "consent",
    "purpose",
    "subject",
    "fields",
    "entry",
)


class CsvWriter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.csv = csv.writer(out, lineterminator="\n")

    def begin(self) -> None:
        self.csv.writerow(CSV_COLUMNS)

    def write(self, row: ExportRow) -> None:
        entry = _parse(row.text)
        self.csv.writerow(
            [
                row.index,
                entry.get("event", ""),
                entry.get("time", ""),
                entry.get("service", ""),
                entry.get("consent", ""),
                entry.get("purpose", ""),
                entry.get("subject", ""),
                ";".join(_field_names(entry)),
                row.text,
            ]
        )

    def finish(self, head: Mapping[str, Any], filters: ExportFilter) -> None:
        pass


DPV = "https://w3id.org/dpv#"
JSONLD_CONTEXT = {
    "@version": 1.1,
    "dpv": DPV,
    "dct": "http://purl.org/dc/terms/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "serdika": "urn:serdika:vocab#",
    "dct:created": {"@type": "xsd:dateTime"},
    "serdika:ledgerIndex": {"@type": "xsd:integer"},
    "serdika:treeHead": {"@type": "@json"},
}
CONSENT_STATUS: dict[str, str] = {
    LedgerEvent.CONSENT_REQUESTED: "dpv:ConsentRequested",
    LedgerEvent.CONSENT_GRANTED: "dpv:ConsentGiven",
    LedgerEvent.CONSENT_DENIED: "dpv:ConsentRefused",
    LedgerEvent.CONSENT_REVOKED: "dpv:ConsentWithdrawn",
    LedgerEvent.CONSENT_EXPIRED: "dpv:ConsentExpired",
}


def consent_record(index: int, entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """An ISO/IEC TS 27560-shaped consent record (DPV terms) of one consent event, else None.

    Each event is one record (``urn:serdika:ledger:N``) and a version (``dct:isVersionOf``)
    of the consent ``urn:serdika:consent:ID``: one node per consent would merge its statuses.
    """
    status = CONSENT_STATUS.get(str(entry.get("event")))
    consent = entry.get("consent")
    if status is None or not isinstance(consent, str):
        return None
    record: dict[str, Any] = {
        "@id": f"urn:serdika:ledger:{index}",
        "@type": "dpv:ConsentRecord",
        "dct:isVersionOf": {"@id": f"urn:serdika:consent:{consent}"},
        "dpv:hasConsentStatus": {"@id": status},
    }
    if isinstance(entry.get("subject"), str):
        record["dpv:hasDataSubject"] = {"@id": f"urn:serdika:subject:{entry['subject']}"}
    if isinstance(entry.get("service"), str):
        record["dpv:hasDataController"] = {"@id": f"urn:serdika:service:{entry['service']}"}
    if isinstance(entry.get("purpose"), str):
        record["dpv:hasPurpose"] = {"@id": f"urn:serdika:purpose:{entry['purpose']}"}
    names = _field_names(entry)
    if names:
        record["dpv:hasPersonalData"] = [{"@id": f"urn:serdika:data:{name}"} for name in names]
    if isinstance(entry.get("time"), str):
        record["dct:created"] = entry["time"]
    record["serdika:ledgerIndex"] = index
    return record


class JsonLdWriter:
    """One JSON-LD document, streamed: the opening, a record per consent event, the closing."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.first = True

    def begin(self) -> None:
        self.out.write('{"@context":' + _compact(JSONLD_CONTEXT) + ',"@graph":[')

    def write(self, row: ExportRow) -> None:
        record = consent_record(row.index, _parse(row.text))
        if record is None:
            return
        self.out.write(("\n" if self.first else ",\n") + _compact(record))
        self.first = False

    def finish(self, head: Mapping[str, Any], filters: ExportFilter) -> None:
        self.out.write('\n],"serdika:treeHead":' + _compact(dict(head)) + "}\n")


WRITERS: dict[str, Callable[[IO[str]], Writer]] = {
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
    "jsonld": JsonLdWriter,
}


def export_ledger(
    sessions: SessionFactory,
    head: SignedTreeHead,
    jwk: Mapping[str, Any],
    writer: Writer,
    filters: ExportFilter = ExportFilter(),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the entries ``[0, head.tree_size)`` passing ``filters``, then the head; return
    how many entries were written. ``progress`` gets each written entry's index."""
    writer.begin()
    written = 0
    for row in iter_rows(sessions, head.tree_size, filters):
        writer.write(row)
        written += 1
        if progress is not None:
            progress(row.index)
    writer.finish({**head.as_json(), "jwk": dict(jwk)}, filters)
    return written


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    message: str
    entry: int | None = None


@dataclass
class Report:
    entries: int = 0
    tree_size: int | None = None
    root: bytes | None = None
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str, entry: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(message, entry))
        else:
            self.more_problems += 1

    @property
    def first_bad_entry(self) -> int | None:
        named = [problem.entry for problem in self.problems if problem.entry is not None]
        return min(named) if named else None

    def headline(self) -> str:
        if self.ok:
            root = b64(self.root) if self.root is not None else "-"
            return f"OK: {self.entries} entries, tree size {self.tree_size}, root {root}"
        first = self.first_bad_entry
        main = next((p for p in self.problems if p.entry == first), self.problems[0])
        suffix = f", first bad entry {first}" if first is not None else ""
        return f"FAILED: {main.message}{suffix}"

    def details(self) -> list[str]:
        first = self.first_bad_entry
        main = (
            next((p for p in self.problems if p.entry == first), self.problems[0])
            if self.problems
            else None
        )
        lines = [f"  also: {problem.message}" for problem in self.problems if problem is not main]
        if self.more_problems:
            lines.append(f"  ... and {self.more_problems} more problems")
        return lines + [f"  note: {note}" for note in self.notes]


def root_from_inclusion(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), None if it is malformed."""
    if not 0 <= index < size or any(len(h) != merkle.HASH_SIZE for h in path):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = merkle.node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = merkle.node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def _load_head(data: object) -> SignedTreeHead | None:
    if not isinstance(data, Mapping):
        return None
    try:
        return SignedTreeHead.from_json(data)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


def load_head(data: object) -> SignedTreeHead:
    """Read a tree head in its contract form (as ``GET /api/v1/audit/tree-head`` returns)."""
    head = _load_head(data)
    if head is None:
        raise ValueError(
            "not a signed tree head (tree_size, root_hash, timestamp, key_id, signature)"
        )
    return head


class _Prefix:
    """The roots of the first ``size`` leaves, taken while streaming."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.actual: bytes | None = merkle.EMPTY_ROOT if size == 0 else None
        self.claimed: bytes | None = self.actual

    def take(self, actual: merkle.CompactRange, claimed: merkle.CompactRange) -> None:
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
                leaf = merkle.leaf_hash(text[len(prefix) : end].encode())
                if leaf == claimed:
                    return leaf
    return merkle.leaf_hash(rfc8785.dumps(entry))


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
    actual, claimed = merkle.CompactRange(), merkle.CompactRange()
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
        claimed_leaf = _unb64(line.get("leaf_hash"))
        leaf = _entry_leaf(raw, index, entry, claimed_leaf, line.get("leaf_hash"))
        if entry.get("index") != index:
            report.fail(f"entry {index} was moved: its own index says {entry.get('index')}", index)
        if claimed_leaf is None or len(claimed_leaf) != merkle.HASH_SIZE:
            claimed_complete = False
            claimed_leaf = leaf
        elif claimed_leaf != leaf and first_leaf_mismatch is None:
            first_leaf_mismatch = index
        proof = line.get("inclusion_proof")
        if isinstance(proof, dict):
            path = [_unb64(h) for h in proof.get("audit_path") or []]
            size = proof.get("tree_size")
            root = (
                root_from_inclusion(leaf, index, size, [h for h in path if h is not None])
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
    head = _load_head(head_data)
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
    if jwk.get("kid") not in (None, head.key_id):
        report.fail(f"the export's key {jwk.get('kid')!r} is not the head's key {head.key_id!r}")
        return {}
    report.notes.append(
        f"the signature was checked with the key the export carries (kid "
        f"{head.key_id}): compare it with the broker's JWKS, or pass "
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


# --- the live store ---------------------------------------------------------------------------


def _heads(sessions: SessionFactory, extra: SignedTreeHead | None) -> Iterator[SignedTreeHead]:
    """Every stored signed head by size (paged), with ``extra`` merged in."""
    position = -1
    pending = extra
    while True:
        with sessions() as session:
            rows = session.scalars(
                select(TreeHead)
                .where(TreeHead.tree_size > position)
                .order_by(TreeHead.tree_size)
                .limit(PAGE_SIZE)
            ).all()
            page = [
                SignedTreeHead(r.tree_size, r.root_hash, r.timestamp, r.key_id, r.signature)
                for r in rows
            ]
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
    compact = merkle.CompactRange()  # over the entries' own hashes
    tree = merkle.CompactRange()  # over the stored tree's leaves
    heads = _heads(sessions, previous)
    next_head = next(heads, None)
    latest: SignedTreeHead | None = None
    broken = False
    computed: dict[merkle.NodeKey, bytes] = {}  # the page's completed nodes, to compare

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
                select(LedgerEntry.index, LedgerEntry.entry, LedgerEntry.leaf_hash, LedgerNode.hash)
                .outerjoin(LedgerNode, _NODE0)
                .where(LedgerEntry.index >= position, LedgerEntry.index < size)
                .order_by(LedgerEntry.index)
                .limit(PAGE_SIZE)
            ).all()
        for index, text, stored_leaf, tree_leaf in page:
            if index != compact.size and not broken:
                report.fail(
                    f"entry {compact.size} is missing (entry {index} follows entry "
                    f"{compact.size - 1})",
                    compact.size,
                )
                broken = True
            report.entries += 1
            data = text.encode()
            leaf = merkle.leaf_hash(data)
            entry = _parse(text)
            if not entry:
                report.fail(f"entry {index} is not a JSON object", index)
            else:
                if rfc8785.dumps(entry) != data:
                    report.fail(f"entry {index} is not in its canonical (RFC 8785) form", index)
                if entry.get("index") != index:
                    report.fail(
                        f"entry {index} was moved: its own index says {entry.get('index')}", index
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
    if latest is not None:
        report.tree_size, report.root = latest.tree_size, latest.root_hash
    else:
        report.notes.append("the ledger has no signed head yet")
    if integrated < size:
        report.notes.append(f"{size - integrated} entries await the sequencer")
    return report


def _check_stored_root(
    sessions: SessionFactory, report: Report, compact: merkle.CompactRange, integrated: int
) -> None:
    with sessions() as session:
        try:
            stored = merkle.root_hash(SessionNodeReader(session), integrated)
        except LookupError as exc:
            report.fail(f"the stored tree is incomplete: {exc}")
            return
    if stored != compact.root():
        report.fail(
            f"the stored tree's nodes do not hash to the root of the first {integrated} entries"
        )


def _check_nodes(
    sessions: SessionFactory, report: Report, computed: Mapping[merkle.NodeKey, bytes]
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
