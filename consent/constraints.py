"""Limits a consent puts on reads: a date range, a granularity and a frequency.

They travel in the ``constraints`` member of a ``personal_data`` authorization detail::

    "constraints": {
        "date_range": {"from": "2025-01-01", "to": "2026-12-31"},
        "granularity": "monthly",
        "frequency": {"max_reads": 1, "per": "P1D"}
    }

- ``date_range`` (dated resources only): whole days of the city's calendar, both ends
  inclusive, either end optional. No record outside it is ever returned.
- ``granularity`` (time series only): the finest granularity the service may read. A read may
  ask for a coarser one; a finer one is refused.
- ``frequency`` (any resource): at most ``max_reads`` successful reads of the resource per
  ``per`` (an ISO 8601 duration), counted per consent, in a window that starts at the first read
  after the previous window ended. Failed reads do not count.

A read narrows the granted limits with the ``from``, ``to`` and ``granularity`` query
parameters; :func:`resolve_read` applies the documented rules (asking beyond the consent is
refused, leaving a parameter out takes the consent's own bound).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import isodate
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from commons import iso8601
from commons.clock import FIRST_DAY, LAST_DAY
from connectors.base import Constraints, Granularity, ResourceDescription

#: When neither the consent nor the read bounds a dated read, it covers this many days to today.
DEFAULT_WINDOW_DAYS = 366
#: The longest window of hourly values one read may ask for (about 2,200 records).
MAX_HOURLY_DAYS = 92
MAX_READS = 10_000
#: Both the shortest and the longest counting period a frequency may name.
MIN_FREQUENCY_PERIOD = timedelta(minutes=1)
MAX_FREQUENCY_PERIOD = timedelta(days=366)


class ReadRefused(Exception):
    """The read asks for more than the consent grants (a 403 for the service)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class BadReadParameters(ValueError):
    """The read's own parameters are malformed (a 400 for the service)."""


class _DateRangeSchema(Schema):
    class Meta:
        unknown = RAISE

    from_ = fields.Date(data_key="from", attribute="from", format="%Y-%m-%d")
    to = fields.Date(format="%Y-%m-%d")

    @validates_schema
    def _ordered(self, data: Mapping[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("give 'from', 'to' or both.")
        if "from" in data and "to" in data and data["from"] > data["to"]:
            raise ValidationError("'from' must not be after 'to'.")


class _AskedDateRangeSchema(_DateRangeSchema):
    """A date range a service asks for now: days of the supported calendar only."""

    @validates_schema
    def _in_the_calendar(self, data: Mapping[str, Any], **_: Any) -> None:
        if any(not FIRST_DAY <= day <= LAST_DAY for day in data.values()):
            raise ValidationError(
                f"dates lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}."
            )


class _FrequencySchema(Schema):
    class Meta:
        unknown = RAISE

    max_reads = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_READS)
    )
    per = fields.String(required=True, validate=validate.Length(min=3, max=16))

    @validates_schema
    def _period(self, data: Mapping[str, Any], **_: Any) -> None:
        if "per" in data:
            frequency_period(data["per"])


class ConstraintsSchema(Schema):
    """The shape of the ``constraints`` member; checks against the resource come after."""

    class Meta:
        unknown = RAISE

    date_range = fields.Nested(_AskedDateRangeSchema)
    granularity = fields.String(validate=validate.OneOf([g.value for g in Granularity]))
    frequency = fields.Nested(_FrequencySchema)


class _StoredConstraintsSchema(ConstraintsSchema):
    """Constraints as a consent holds them: as they were granted, whenever that was."""

    date_range = fields.Nested(_DateRangeSchema)


def frequency_period(value: str) -> timedelta:
    """Parse a frequency's ``per``: a fixed-length ISO 8601 duration (no months or years)."""
    try:
        if not isinstance(value, str) or not iso8601.DURATION.match(value):
            raise ValueError(value)
        period = isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError, TypeError) as exc:
        raise ValidationError(
            f"'per' must be an ISO 8601 duration such as P1D, not {value!r}."
        ) from exc
    if not isinstance(period, timedelta):
        raise ValidationError("'per' must be in weeks, days, hours or minutes (such as P7D).")
    if not MIN_FREQUENCY_PERIOD <= period <= MAX_FREQUENCY_PERIOD:
        raise ValidationError("'per' must be between one minute (PT1M) and P366D.")
    return period


@dataclass(frozen=True)
class Frequency:
    max_reads: int
    per: str

    @property
    def period(self) -> timedelta:
        return frequency_period(self.per)


@dataclass(frozen=True)
class GrantedLimits:
    """The constraints of one granted scope item, as stored in the consent."""

    date_from: date | None = None
    date_to: date | None = None
    granularity: Granularity | None = None
    frequency: Frequency | None = None

    @classmethod
    def loaded(cls, data: Mapping[str, Any] | None) -> GrantedLimits:
        """Build from the validated output of :class:`ConstraintsSchema`."""
        if not data:
            return NO_LIMITS
        date_range = data.get("date_range") or {}
        frequency = data.get("frequency")
        granularity = data.get("granularity")
        return cls(
            date_from=date_range.get("from"),
            date_to=date_range.get("to"),
            granularity=Granularity(granularity) if granularity else None,
            frequency=Frequency(frequency["max_reads"], frequency["per"]) if frequency else None,
        )

    @classmethod
    def stored(cls, data: Mapping[str, Any] | None) -> GrantedLimits:
        """Build from the JSON kept in ``Consent.scope`` (see :meth:`as_json`)."""
        if not data:
            return NO_LIMITS
        return cls.loaded(_stored_schema.load(data))

    def as_json(self) -> dict[str, Any] | None:
        """The ``constraints`` member as it appears in authorization details; None if none."""
        result: dict[str, Any] = {}
        if self.date_from or self.date_to:
            result["date_range"] = {
                key: value.isoformat()
                for key, value in (("from", self.date_from), ("to", self.date_to))
                if value is not None
            }
        if self.granularity:
            result["granularity"] = self.granularity.value
        if self.frequency:
            result["frequency"] = {"max_reads": self.frequency.max_reads, "per": self.frequency.per}
        return result or None

    def check_applies_to(self, resource: ResourceDescription, where: str) -> None:
        """Raise :class:`ValueError` naming ``where`` if a limit cannot apply to ``resource``."""
        if (self.date_from or self.date_to) and not resource.dated:
            raise ValueError(f"{where}: 'date_range' applies only to dated resources.")
        if self.granularity is not None and self.granularity not in resource.granularities:
            offered = ", ".join(g.value for g in resource.granularities) or "none"
            raise ValueError(
                f"{where}: 'granularity' {self.granularity.value!r} is not offered "
                f"(offered: {offered})."
            )


NO_LIMITS = GrantedLimits()
_stored_schema = _StoredConstraintsSchema()


def parse_read_parameters(args: Mapping[str, str]) -> tuple[date | None, date | None, str | None]:
    """Read the data API's ``from``, ``to`` and ``granularity`` query parameters."""
    bounds: list[date | None] = []
    for name in ("from", "to"):
        value = args.get(name)
        if value is None:
            bounds.append(None)
            continue
        try:
            if not iso8601.DAY.match(value):  # fromisoformat would take week dates (2026-W05-1)
                raise ValueError(value)
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise BadReadParameters(f"'{name}' must be a date such as 2026-01-31.") from exc
        if not FIRST_DAY <= day <= LAST_DAY:
            raise BadReadParameters(
                f"'{name}' must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}."
            )
        bounds.append(day)
    granularity = args.get("granularity")
    if granularity is not None and granularity not in {g.value for g in Granularity}:
        raise BadReadParameters("'granularity' must be one of hourly, daily or monthly.")
    return bounds[0], bounds[1], granularity


def resolve_read(
    granted: GrantedLimits,
    resource: ResourceDescription,
    *,
    asked_from: date | None,
    asked_to: date | None,
    asked_granularity: str | None,
    today: date,
) -> Constraints:
    """Turn the consent's limits and the read's parameters into the connector's constraints.

    Rules: a bound the read leaves out is the consent's (else ``to`` is today and ``from`` is
    :data:`DEFAULT_WINDOW_DAYS` before it); a bound beyond the consent is refused; a
    granularity finer than the consent's is refused, and without one the read gets the
    consent's, else the resource's coarsest.
    """
    if not resource.dated:
        if asked_from or asked_to or asked_granularity:
            raise BadReadParameters(
                "This resource has no dated records; drop from, to and granularity."
            )
        return Constraints()
    if asked_granularity is not None and not resource.granularities:
        raise BadReadParameters("This resource is not a time series; drop 'granularity'.")
    if asked_from and granted.date_from and asked_from < granted.date_from:
        raise ReadRefused(
            "outside_date_range", f"The consent covers dates from {granted.date_from.isoformat()}."
        )
    if asked_to and granted.date_to and asked_to > granted.date_to:
        raise ReadRefused(
            "outside_date_range", f"The consent covers dates up to {granted.date_to.isoformat()}."
        )
    date_to = asked_to or granted.date_to or today
    date_from = asked_from or granted.date_from or date_to - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    # A consent stored before its dates were bounded may reach past the calendar's ends.
    date_from, date_to = max(date_from, FIRST_DAY), min(date_to, LAST_DAY)
    if date_from > date_to:
        raise BadReadParameters("'from' must not be after 'to' (or the consent's last day).")

    granularity: Granularity | None = None
    if resource.granularities:
        if asked_granularity is not None:
            granularity = Granularity(asked_granularity)
            if granularity not in resource.granularities:
                raise BadReadParameters(f"This resource does not offer {asked_granularity} values.")
            if granted.granularity is not None and granularity.finer_than(granted.granularity):
                raise ReadRefused(
                    "granularity_too_fine",
                    f"The consent allows {granted.granularity.value} values at the finest.",
                )
        else:
            granularity = granted.granularity or max(resource.granularities, key=lambda g: g.rank)
        if granularity is Granularity.HOURLY and (date_to - date_from).days >= MAX_HOURLY_DAYS:
            raise BadReadParameters(
                f"Ask for at most {MAX_HOURLY_DAYS} days of hourly values in one read."
            )
    return Constraints(date_from=date_from, date_to=date_to, granularity=granularity)
