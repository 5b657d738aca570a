"""Ledger exports (docs/architecture.md, "The ledger"): no Flask, constant memory.

Exports are streamed page by page (keyset pagination on the entry index) into one of three
writers:

* **JSON Lines**, the verifiable form: one ``{"type": "entry", "index": N, "leaf_hash": ...,
  "entry": {...}}`` line per entry, the entry being the stored RFC 8785 text as is and
  ``leaf_hash`` the tree's own leaf (the level-0 node the sequencer integrated), then one
  ``{"type": "tree_head", "tree_head": {..., "jwk": {...}}}`` line. A filtered export holds a
  subset of the entries, so it cannot prove completeness: its head line says ``"filter"`` and
  each entry line also carries ``"inclusion_proof": {"leaf_index", "tree_size",
  "audit_path"}`` against the head. :mod:`consent.ledger.offline` verifies it.
* **CSV**, one row per entry, for spreadsheets.
* **JSON-LD**, consent records shaped after ISO/IEC TS 27560 in W3C DPV terms.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from commons.spreadsheet import inert_cell
from consent.ledger.encoding import b64
from consent.ledger.entries import LedgerEvent, parse_entry
from consent.ledger.heads import SignedTreeHead
from consent.ledger.tree import LEAF_NODE_OF_ENTRY, inclusion_proof
from consent.models import LedgerEntry, LedgerNode

PAGE_SIZE = 2000
"""Entries read per page (one short transaction each) by exports."""
FORMATS = ("jsonl", "csv", "jsonld")

SessionFactory = Callable[[], Session]


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
                .outerjoin(LedgerNode, LEAF_NODE_OF_ENTRY)
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
    """The verifiable layout (docs/architecture.md, "The ledger").

    The entry text is written as stored, not re-encoded.
    """

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
        entry = parse_entry(row.text)
        cells = [
            entry.get("event", ""),
            entry.get("time", ""),
            entry.get("service", ""),
            entry.get("consent", ""),
            entry.get("purpose", ""),
            entry.get("subject", ""),
            ";".join(_field_names(entry)),
        ]
        # The entry's own text (a JSON object, verifiable as it is) is never touched.
        self.csv.writerow([row.index, *(inert_cell(str(cell)) for cell in cells), row.text])

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
    # Given again, for the scope and end the entry names (consent.amendment).
    LedgerEvent.CONSENT_AMENDED: "dpv:ConsentGiven",
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
        record = consent_record(row.index, parse_entry(row.text))
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
    written = 0
    for index in export_steps(sessions, head, jwk, writer, filters):
        written += 1
        if progress is not None:
            progress(index)
    return written


def export_steps(
    sessions: SessionFactory,
    head: SignedTreeHead,
    jwk: Mapping[str, Any],
    writer: Writer,
    filters: ExportFilter = ExportFilter(),
) -> Iterator[int]:
    """:func:`export_ledger` a step at a time, for a streamed answer: the index of each entry
    once written; the head is written when the steps run out."""
    writer.begin()
    for row in iter_rows(sessions, head.tree_size, filters):
        writer.write(row)
        yield row.index
    writer.finish({**head.as_json(), "jwk": dict(jwk)}, filters)
