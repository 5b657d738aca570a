"""csv_files: a small municipality's registers as a directory of CSV files, one per resource.

Each file has a header row, a column with the national id, and one column per field; the
configuration describes the resources and fields (the files themselves carry no labels)::

    [connectors.bankya]
    kind = "csv_files"
    directory = "/var/lib/serdika/bankya"
    label_bg = "Район Банкя"  label_en = "Bankya district"
    name = "bankya"                      # the source's own name (default "csv_files")
    delimiter = ","                      # one character; ";" is common in spreadsheet exports

    [connectors.bankya.resources.parking_permits]
    label_bg = "..."  label_en = "..."
    file = "parking_permits.csv"         # a file in ``directory``; default "<resource>.csv"
    key_column = "national_id"           # the default
    multiple = false                     # see below

    [connectors.bankya.resources.parking_permits.fields.zone]
    label_bg = "..."  label_en = "..."
    dpv = "https://w3id.org/dpv/pd#Location"
    sensitivity = "personal"             # low | personal (default) | special
    optional = true                      # may the citizen leave it out (default true)
    column = "zone"                      # default: the field's name

How files are read, and why:

- UTF-8, with or without a byte-order mark (what spreadsheets write), parsed strictly by the
  stdlib :mod:`csv` module (a stray quote refuses the file rather than guessing). Header names
  and cells are stripped of surrounding spaces; an empty cell is ``null``; every other value is
  the cell's text (CSV has no types).
- A file is loaded into memory, indexed by national id, and read again only when its size,
  modification time or inode changes (so replacing it with a rename is picked up at once).
  Reads are a ``stat`` and a dictionary lookup. A reload happens once, under a lock; reads that
  arrive meanwhile wait for it instead of parsing the file again. Write a new file beside the
  old one and rename it over it: a file read while it is being written may be read half-done.
- A row whose key cell is empty belongs to nobody and is skipped. A row with more or fewer
  cells than the header would shift values into the wrong fields, so the whole file is refused
  (:class:`BadUpstreamData`) until it is fixed, as is a header that lacks a configured column.
- A subject with several rows: the first one is the answer, unless the resource says
  ``multiple = true``; then each field's value is the list of its values, one per row, in the
  file's order.
- A missing or unreadable file is :class:`SourceUnavailable`; a subject with no row is
  :class:`SubjectNotFound`. ``health()`` loads every file and names the first problem, such as
  ``column zone missing in parking_permits.csv``.
"""

from __future__ import annotations

import csv
import os
import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import (
    BadUpstreamData,
    ConnectorConfigError,
    ConnectorDescription,
    ConnectorError,
    Constraints,
    FieldDescription,
    Health,
    ResourceDescription,
    Sensitivity,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
    requested_fields,
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
DPV_PREFIX = "https://w3id.org/dpv"
ENCODING = "utf-8-sig"  # reads UTF-8 with or without a byte-order mark

Cell = str | None
Row = tuple[Cell, ...]


# -- options -----------------------------------------------------------------------------------


class _Options:
    """One table of options; every error names the option by its dotted path."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise ConnectorConfigError(path or "options", "must be a table")
        self.values = dict(value)
        self.path = path
        self._read: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        self._read.add(key)
        if key not in self.values:
            if required:
                raise ConnectorConfigError(self.where(key), "is required")
            return default
        return self.values[key]

    def text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, default, required=default is None)
        if not isinstance(value, str) or not value.strip():
            raise ConnectorConfigError(self.where(key), "must be a non-empty string")
        return value.strip()

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ConnectorConfigError(self.where(key), "must be true or false")
        return value

    def name(self, key: str, default: str | None = None) -> str:
        value = self.text(key, default)
        if not _NAME.match(value):
            raise ConnectorConfigError(self.where(key), "must be lower-case letters, digits and _")
        return value

    def table(self, key: str) -> _Options:
        return _Options(self.get(key, required=True), self.where(key))

    def finish(self) -> None:
        """Refuse options nobody reads, so a misspelt one is not silently ignored."""
        for key in sorted(self.values.keys() - self._read):
            raise ConnectorConfigError(self.where(key), "is not an option here")


def _labels(options: _Options) -> tuple[str, str]:
    return options.text("label_bg"), options.text("label_en")


@dataclass(frozen=True)
class _Resource:
    description: ResourceDescription
    file: str
    key_column: str
    multiple: bool
    columns: Mapping[str, str]  # field name -> column


def _field(name: str, options: _Options) -> tuple[FieldDescription, str]:
    label_bg, label_en = _labels(options)
    dpv = options.text("dpv")
    if not dpv.startswith(DPV_PREFIX + "/") and not dpv.startswith(DPV_PREFIX + "#"):
        raise ConnectorConfigError(options.where("dpv"), f"must be a W3C DPV IRI ({DPV_PREFIX}…)")
    sensitivity = options.text("sensitivity", Sensitivity.PERSONAL.value)
    if sensitivity not in {s.value for s in Sensitivity}:
        raise ConnectorConfigError(
            options.where("sensitivity"),
            "must be one of " + ", ".join(s.value for s in Sensitivity),
        )
    optional = options.flag("optional", True)
    column = options.text("column", name)
    options.finish()
    description = FieldDescription(
        name, label_bg, label_en, dpv, Sensitivity(sensitivity), optional
    )
    return description, column


def _resource(name: str, options: _Options) -> _Resource:
    label_bg, label_en = _labels(options)
    file = options.text("file", f"{name}.csv")
    if Path(file).name != file or file in (".", "..") or "\\" in file:
        raise ConnectorConfigError(options.where("file"), "must be a file name in `directory`")
    key_column = options.text("key_column", "national_id")
    multiple = options.flag("multiple", False)
    fields_options = options.table("fields")
    if not fields_options.values:
        raise ConnectorConfigError(fields_options.path, "must describe at least one field")
    fields: dict[str, FieldDescription] = {}
    columns: dict[str, str] = {}
    for field_name in fields_options.values:
        if not _NAME.match(field_name):
            raise ConnectorConfigError(
                fields_options.where(field_name), "a field name is lower-case letters, digits, _"
            )
        fields[field_name], columns[field_name] = _field(
            field_name, fields_options.table(field_name)
        )
    options.finish()
    description = ResourceDescription(name, label_bg, label_en, fields)
    return _Resource(description, file, key_column, multiple, columns)


# -- one file, indexed by national id ----------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """A file as last loaded: its index, or why it could not be used (then ``failure``)."""

    signature: tuple[int, ...]
    index: Mapping[str, list[Row]] = field(default_factory=dict)
    failure: str | None = None


def _signature(status: os.stat_result) -> tuple[int, ...]:
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


class _CsvFile:
    """One resource's file, loaded once and again only after it changes; safe across threads."""

    def __init__(self, path: Path, resource: _Resource, delimiter: str) -> None:
        self.path = path
        self.resource = resource
        self.delimiter = delimiter
        # The columns a read needs, in field order, each once.
        self.fields = tuple(resource.columns)
        self.position = {field_name: i for i, field_name in enumerate(self.fields)}
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    def index(self) -> Mapping[str, list[Row]]:
        """The rows by national id, each row the fields' values in ``self.fields`` order."""
        signature = self._stat()
        snapshot = self._snapshot
        if snapshot is None or snapshot.signature != signature:
            with self._lock:
                snapshot = self._snapshot
                if snapshot is None or snapshot.signature != signature:
                    snapshot = self._load()
                    self._snapshot = snapshot
        if snapshot.failure is not None:
            raise BadUpstreamData(snapshot.failure)
        return snapshot.index

    def _stat(self) -> tuple[int, ...]:
        try:
            return _signature(os.stat(self.path))
        except FileNotFoundError as exc:
            raise SourceUnavailable(f"{self.resource.file} is missing") from exc
        except OSError as exc:
            raise SourceUnavailable(f"{self.resource.file} cannot be read") from exc

    def _load(self) -> _Snapshot:
        name = self.resource.file
        try:
            with self.path.open(encoding=ENCODING, newline="") as file:
                signature = _signature(os.fstat(file.fileno()))
                try:
                    return self._parse(
                        csv.reader(file, delimiter=self.delimiter, strict=True), signature
                    )
                except UnicodeDecodeError:
                    return _Snapshot(signature, failure=f"{name} is not UTF-8 text")
                except csv.Error as exc:
                    # The csv module's messages describe the syntax, never a cell's content.
                    return _Snapshot(signature, failure=f"{name} is not valid CSV: {exc}")
        except FileNotFoundError as exc:
            raise SourceUnavailable(f"{name} is missing") from exc
        except OSError as exc:
            raise SourceUnavailable(f"{name} cannot be read") from exc

    def _parse(self, reader: Any, signature: tuple[int, ...]) -> _Snapshot:
        resource, name = self.resource, self.resource.file
        header = next(reader, None)
        if header is None:
            return _Snapshot(signature, failure=f"{name} is empty: it has no header row")
        header = [column.strip() for column in header]
        positions: dict[str, int] = {}
        for column in (resource.key_column, *resource.columns.values()):
            if column not in header:
                return _Snapshot(signature, failure=f"column {column} missing in {name}")
            if header.count(column) > 1:
                return _Snapshot(signature, failure=f"column {column} appears twice in {name}")
            positions[column] = header.index(column)
        key = positions[resource.key_column]
        cells = [positions[resource.columns[field_name]] for field_name in self.fields]
        index: dict[str, list[Row]] = {}
        for row in reader:
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                return _Snapshot(
                    signature,
                    failure=f"line {reader.line_num} of {name} has {len(row)} cells, "
                    f"the header {len(header)}",
                )
            subject = row[key].strip()
            if not subject:
                continue
            values = tuple(_cell(row[position]) for position in cells)
            rows = index.setdefault(subject, [])
            if resource.multiple or not rows:
                rows.append(values)
        return _Snapshot(signature, index=index)


def _cell(value: str) -> Cell:
    value = value.strip()
    return value or None


# -- the connector -----------------------------------------------------------------------------


class CsvFilesConnector:
    """Reads the resources of a directory of CSV files, as the configuration describes them."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        label_bg: str | None = None,
        label_en: str | None = None,
        resources: Mapping[str, Any] | None = None,
        name: str = "csv_files",
        delimiter: str = ",",
    ) -> None:
        options = _Options(
            {
                key: value
                for key, value in {
                    "directory": directory,
                    "label_bg": label_bg,
                    "label_en": label_en,
                    "resources": resources,
                    "name": name,
                }.items()
                if value is not None
            },
            "",
        )
        raw_directory = options.get("directory", required=True)
        if not isinstance(raw_directory, str | os.PathLike) or not str(raw_directory).strip():
            raise ConnectorConfigError("directory", "must be the path of a directory")
        self.directory = Path(os.path.abspath(raw_directory))
        self.name = options.name("name", "csv_files")
        connector_bg, connector_en = _labels(options)
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
            raise ConnectorConfigError("delimiter", "must be one character (not a quote)")
        resources_options = options.table("resources")
        if not resources_options.values:
            raise ConnectorConfigError("resources", "must describe at least one resource")
        specs: dict[str, _Resource] = {}
        for resource_name in resources_options.values:
            if not _NAME.match(resource_name):
                raise ConnectorConfigError(
                    resources_options.where(resource_name),
                    "a resource name is lower-case letters, digits and _",
                )
            specs[resource_name] = _resource(resource_name, resources_options.table(resource_name))
        self._description = ConnectorDescription(
            self.name,
            connector_bg,
            connector_en,
            {resource_name: spec.description for resource_name, spec in specs.items()},
        )
        self._files = {
            resource_name: _CsvFile(self.directory / spec.file, spec, delimiter)
            for resource_name, spec in specs.items()
        }

    def describe(self) -> ConnectorDescription:
        return self._description

    def fetch(
        self,
        subject: SubjectRef,
        resource: str,
        fields: Collection[str],
        constraints: Constraints | None = None,
    ) -> dict[str, Any]:
        _, wanted = requested_fields(self._description, resource, fields)
        source = self._files[resource]
        rows = source.index().get(subject.national_id.strip())
        if not rows:
            raise SubjectNotFound(f"no row for this subject in {source.resource.file}")
        position = source.position
        if source.resource.multiple:
            return {name: [row[position[name]] for row in rows] for name in wanted}
        return {name: rows[0][position[name]] for name in wanted}

    def health(self) -> Health:
        subjects = 0
        for source in self._files.values():
            try:
                subjects += len(source.index())
            except ConnectorError as exc:
                return Health(False, str(exc))
            except Exception as exc:  # health() reports; it never raises
                return Health(False, f"{source.resource.file}: {type(exc).__name__}")
        return Health(True, f"{len(self._files)} files, {subjects} subject rows")
