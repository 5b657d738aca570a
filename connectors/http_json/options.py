"""http_json's options: every table checked, every error naming the option by its dotted path.

The connector's options are described in :mod:`connectors.http_json`. Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from jsonpointer import EndOfList, JsonPointer, JsonPointerException

from connectors.base import (
    ConnectorConfigError,
    FieldDescription,
    ResourceDescription,
    Sensitivity,
)

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # an RFC 9110 token
MISSING = object()


def text(setting: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConnectorConfigError(setting, "must be a non-empty string")
    return value


def flag(setting: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConnectorConfigError(setting, "must be true or false")
    return value


class Table:
    """One table of options; every error names the option by its dotted path."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise ConnectorConfigError(path, "must be a table")
        self.values = dict(value)
        self.path = path
        self._read: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(self, key: str, default: Any = MISSING) -> Any:
        self._read.add(key)
        value = self.values.get(key, default)
        if value is MISSING:
            raise ConnectorConfigError(self.where(key), "is required")
        return value

    def text(self, key: str, default: Any = MISSING) -> Any:
        value = self.get(key, default)
        return value if value is default else text(self.where(key), value)

    def flag(self, key: str, default: bool) -> bool:
        return flag(self.where(key), self.get(key, default))

    def table(self, key: str) -> Table:
        return Table(self.get(key), self.where(key))

    def finish(self) -> None:
        """Refuse options nobody reads, so a misspelt one is not silently ignored."""
        for key in sorted(self.values.keys() - self._read):
            raise ConnectorConfigError(self.where(key), "is not an option here")


def number(setting: str, value: Any, *, minimum: float, integer: bool = False) -> Any:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
        or not math.isfinite(value)
    ):
        raise ConnectorConfigError(setting, "must be an integer" if integer else "must be a number")
    if value < minimum:
        raise ConnectorConfigError(setting, f"must be at least {minimum}")
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def upstream_url(setting: str, value: Any, allow_insecure_http: bool) -> httpx.URL:
    if not isinstance(value, str) or not value:
        raise ConnectorConfigError(setting, "must be a URL")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ConnectorConfigError(setting, f"is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConnectorConfigError(setting, "must be an https:// URL with a host")
    if url.scheme == "http" and not (allow_insecure_http or _is_loopback(url.host)):
        raise ConnectorConfigError(
            setting,
            "must be an https:// URL (http:// only to a loopback host, "
            "or with allow_insecure_http = true)",
        )
    if url.userinfo:
        raise ConnectorConfigError(setting, "must not carry credentials; use the auth table")
    if url.fragment:
        raise ConnectorConfigError(setting, "must not have a #fragment")
    return url


def relative_path(setting: str, path: str) -> str:
    try:
        relative = httpx.URL(path).is_relative_url and not path.startswith("//")
    except httpx.InvalidURL:
        relative = False
    if not relative:
        raise ConnectorConfigError(setting, "must be a path under base_url")
    return path


def _pointer(setting: str, value: Any, *, whole_document: bool = False) -> JsonPointer:
    if not isinstance(value, str):
        raise ConnectorConfigError(setting, "must be a JSON pointer string such as '/a/b'")
    try:
        pointer = JsonPointer(value)
    except JsonPointerException as exc:
        raise ConnectorConfigError(setting, f"is not an RFC 6901 JSON pointer: {exc}") from None
    if not pointer.parts and not whole_document:
        raise ConnectorConfigError(setting, "must point inside the answer, not at all of it")
    if "-" in pointer.parts:
        raise ConnectorConfigError(setting, "'-' names no value (RFC 6901 section 4)")
    return pointer


def resolve(pointer: JsonPointer, document: Any) -> Any:
    value = pointer.resolve(document, MISSING)
    return MISSING if isinstance(value, EndOfList) else value


@dataclass(frozen=True)
class FieldSpec:
    pointer: JsonPointer
    nullable: bool
    description: FieldDescription


@dataclass(frozen=True)
class ResourceSpec:
    path: str
    method: str
    subject_pointer: JsonPointer | None
    not_found: frozenset[int]
    date_params: tuple[str, str] | None
    fields: Mapping[str, FieldSpec]
    description: ResourceDescription


def labels(table: Table) -> tuple[str, str]:
    return table.text("label_bg"), table.text("label_en")


def _field(name: str, table: Table) -> FieldSpec:
    label_bg, label_en = labels(table)
    dpv = table.text("dpv")
    if not dpv.startswith("https://w3id.org/dpv"):
        raise ConnectorConfigError(
            table.where("dpv"), "must be a W3C DPV IRI (https://w3id.org/dpv...)"
        )
    sensitivity = table.text("sensitivity", "personal")
    if sensitivity not in {s.value for s in Sensitivity}:
        raise ConnectorConfigError(table.where("sensitivity"), "must be low, personal or special")
    result = FieldSpec(
        pointer=_pointer(table.where("pointer"), table.get("pointer")),
        nullable=table.flag("nullable", False),
        description=FieldDescription(
            name,
            label_bg,
            label_en,
            dpv,
            Sensitivity(sensitivity),
            optional=table.flag("optional", True),
            dated=table.flag("dated", False),
        ),
    )
    table.finish()
    return result


def parse_resource(name: str, table: Table) -> ResourceSpec:
    label_bg, label_en = labels(table)
    method = table.text("method", "GET").upper()
    if method not in ("GET", "POST"):
        raise ConnectorConfigError(table.where("method"), "must be GET or POST")
    path = table.text("path")
    placeholders = path.count("{subject}")
    if "{" in path.replace("{subject}", "") or "}" in path.replace("{subject}", ""):
        raise ConnectorConfigError(table.where("path"), "may hold no placeholder but {subject}")
    if method == "GET" and placeholders != 1:
        raise ConnectorConfigError(table.where("path"), "a GET path must hold {subject} once")
    if method == "POST" and placeholders:
        raise ConnectorConfigError(
            table.where("path"), "a POST sends the national id in its body, not in the path"
        )
    relative_path(table.where("path"), path.replace("{subject}", "x"))
    subject_pointer = table.get("subject_pointer", None)
    not_found = table.get("not_found_status", [404])
    if not isinstance(not_found, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 400 <= s <= 499 for s in not_found
    ):
        raise ConnectorConfigError(table.where("not_found_status"), "must be a list of 4xx codes")
    fields_table = table.table("fields")
    fields = {}
    for field_name in fields_table.values:
        fields_table.get(field_name)
        if not NAME.match(field_name):
            raise ConnectorConfigError(
                fields_table.where(field_name), "a field name is lower-case letters, digits and _"
            )
        fields[field_name] = _field(field_name, fields_table.table(field_name))
    if not fields:
        raise ConnectorConfigError(fields_table.path, "must describe at least one field")
    date_from, date_to = table.get("date_from_param", None), table.get("date_to_param", None)
    dated = any(f.description.dated for f in fields.values())
    for key, value in (("date_from_param", date_from), ("date_to_param", date_to)):
        if value is not None and (not isinstance(value, str) or not value or not dated):
            raise ConnectorConfigError(
                table.where(key), "must be a query parameter name, on a resource with dated fields"
            )
    if (date_from is None) != (date_to is None):
        raise ConnectorConfigError(table.where("date_to_param"), "set both date parameters or none")
    table.finish()
    return ResourceSpec(
        path=path,
        method=method,
        subject_pointer=None
        if subject_pointer is None
        else _pointer(table.where("subject_pointer"), subject_pointer),
        not_found=frozenset(not_found),
        date_params=(date_from, date_to) if date_from is not None else None,
        fields=fields,
        description=ResourceDescription(
            name, label_bg, label_en, {n: f.description for n, f in fields.items()}
        ),
    )
