"""The connector interface: what a data-source adapter must do, and nothing more.

A connector reads one source for one citizen, one resource and a set of fields. It never sees
OAuth tokens, the broker's HTTP requests or the wallet. To write one:

1. Subclass nothing; implement the :class:`Connector` protocol below (``name``,
   :meth:`~Connector.describe`, :meth:`~Connector.fetch`, :meth:`~Connector.health`).
2. Raise the typed errors of this module for the failures of your source; the broker turns them
   into clear problem+json answers for the service and records the failed read.
3. Register it: built-ins by name in :mod:`connectors.registry`, third-party packages through the
   entry-point group ``serdika.connectors``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Sensitivity(StrEnum):
    """How harmful a leak of the field would be; the wallet shows it to the citizen."""

    LOW = "low"
    PERSONAL = "personal"
    SPECIAL = "special"  # GDPR Art. 9 categories, or identifiers such as the ЕГН


@dataclass(frozen=True)
class FieldDescription:
    """One field of a resource, described for the citizen and for the auditor."""

    name: str
    label_bg: str
    label_en: str
    dpv_category: str
    sensitivity: Sensitivity = Sensitivity.PERSONAL
    optional: bool = True

    def label(self, locale: str) -> str:
        return self.label_bg if locale == "bg" else self.label_en


@dataclass(frozen=True)
class ResourceDescription:
    """A resource a connector serves, such as ``person``, and its fields by name."""

    name: str
    label_bg: str
    label_en: str
    fields: Mapping[str, FieldDescription]

    def label(self, locale: str) -> str:
        return self.label_bg if locale == "bg" else self.label_en


@dataclass(frozen=True)
class ConnectorDescription:
    """What :meth:`Connector.describe` returns: the source's names and its resources."""

    name: str
    label_bg: str
    label_en: str
    resources: Mapping[str, ResourceDescription]

    def label(self, locale: str) -> str:
        return self.label_bg if locale == "bg" else self.label_en


@dataclass(frozen=True)
class SubjectRef:
    """Who the read is about, as the source knows them (the national identifier)."""

    national_id: str


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Constraints:
    """Limits from the consent that the connector must respect when it reads."""

    extra: Mapping[str, Any] = field(default_factory=dict)


class ConnectorError(Exception):
    """Base class of the failures a connector reports."""

    status = 502
    title = "Bad upstream data"


class SubjectNotFound(ConnectorError):
    """The source holds no record of this subject for this resource."""

    status = 404
    title = "No record at the source"


class SourceUnavailable(ConnectorError):
    """The source is down or refused; the service may retry after ``retry_after`` seconds."""

    status = 503
    title = "Data source unavailable"

    def __init__(self, message: str = "", retry_after: int = 30) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceTimeout(ConnectorError):
    """The source did not answer within the configured time."""

    status = 504
    title = "Data source timed out"


class BadUpstreamData(ConnectorError):
    """The source answered with data of an unexpected shape."""


@runtime_checkable
class Connector(Protocol):
    """A data-source adapter.

    Implementations must be safe to call from several threads, must return only the fields
    asked for, and must never return data of any subject other than ``subject``.
    """

    name: str

    def describe(self) -> ConnectorDescription:
        """Return the resources and fields this source serves; cheap, no I/O."""
        ...

    def fetch(
        self,
        subject: SubjectRef,
        resource: str,
        fields: Collection[str],
        constraints: Constraints | None = None,
    ) -> dict[str, Any]:
        """Return ``{field: value}`` for exactly ``fields`` of ``resource`` for ``subject``.

        Raise :class:`SubjectNotFound`, :class:`SourceUnavailable`, :class:`SourceTimeout` or
        :class:`BadUpstreamData` on failure; never return partial data silently.
        """
        ...

    def health(self) -> Health:
        """Check that the source answers; used by ``serdika connectors check`` and /readyz."""
        ...
