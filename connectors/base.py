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
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from commons.clock import CITY_TIMEZONE as _CITY_TIMEZONE


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
    #: The value is a list of dated records, each a mapping with ``start`` and ``end`` (ISO 8601
    #: dates or date-times with an offset; ``end`` exclusive). A consent's date range and
    #: granularity apply to these records, and the broker checks every one before it leaves.
    dated: bool = False

    def label(self, locale: str) -> str:
        return self.label_bg if locale == "bg" else self.label_en


class Granularity(StrEnum):
    """How fine a time series is, from the finest to the coarsest."""

    HOURLY = "hourly"
    DAILY = "daily"
    MONTHLY = "monthly"

    @property
    def rank(self) -> int:
        return _GRANULARITY_RANK[self]

    def finer_than(self, other: Granularity) -> bool:
        return self.rank < other.rank


_GRANULARITY_RANK = {Granularity.HOURLY: 0, Granularity.DAILY: 1, Granularity.MONTHLY: 2}


@dataclass(frozen=True)
class ResourceDescription:
    """A resource a connector serves, such as ``person``, and its fields by name.

    ``granularities`` is empty for plain records; for a time series it lists the granularities
    the connector can aggregate to, and its dated fields are returned at the one asked for.
    """

    name: str
    label_bg: str
    label_en: str
    fields: Mapping[str, FieldDescription]
    granularities: tuple[Granularity, ...] = ()
    #: Read by the broker for the citizen's own wallet only (a parent's wards); no service may
    #: ask for it.
    wallet_only: bool = False

    def label(self, locale: str) -> str:
        return self.label_bg if locale == "bg" else self.label_en

    @property
    def dated(self) -> bool:
        """True when a date range applies: some field holds dated records."""
        return any(field.dated for field in self.fields.values())


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


#: Day and month boundaries of dated records are those of the city's own calendar
#: (kept here for connector authors; it lives in :mod:`commons.clock`).
CITY_TIMEZONE = _CITY_TIMEZONE


@dataclass(frozen=True)
class Constraints:
    """Limits from the consent, narrowed by the service's request, for one read.

    Dates are whole days of the city's calendar (:data:`CITY_TIMEZONE`), both inclusive. A
    connector returns only dated records that lie wholly inside ``[date_from, date_to]``, and a
    time series at exactly ``granularity``. The broker resolves the bounds before it calls, so
    for a dated resource ``date_from`` and ``date_to`` are always set; the broker also checks
    what comes back and refuses the read if a record breaks them.
    """

    date_from: date | None = None
    date_to: date | None = None
    granularity: Granularity | None = None


class ConnectorConfigError(ValueError):
    """A connector's configuration cannot work; ``setting`` names the option to fix."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


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


def requested_fields(
    description: ConnectorDescription, resource: str, fields: Collection[str]
) -> tuple[ResourceDescription, list[str]]:
    """Check a read's resource and fields against ``description``; the start of every fetch.

    Returns the resource's description and ``fields`` once each, in the order asked. An
    unknown resource is :class:`SubjectNotFound`, an unknown field a :class:`ValueError`; the
    messages name only the resource and field, never the subject.
    """
    resource_description = description.resources.get(resource)
    if resource_description is None:
        raise SubjectNotFound(f"no resource {resource!r} at {description.name}")
    wanted = list(dict.fromkeys(fields))
    for name in wanted:
        if name not in resource_description.fields:
            raise ValueError(f"resource {resource!r} has no field {name!r}")
    return resource_description, wanted


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

        For a dated resource, ``constraints`` carries the resolved date range (and, for a time
        series, the granularity): return only records wholly inside it, at that granularity.

        Raise :class:`SubjectNotFound`, :class:`SourceUnavailable`, :class:`SourceTimeout` or
        :class:`BadUpstreamData` on failure; never return partial data silently.
        """
        ...

    def health(self) -> Health:
        """Check that the source answers; used by ``serdika connectors check`` and /readyz."""
        ...
