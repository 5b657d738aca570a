"""Calendar arithmetic for dated records, and the check the broker runs on every answer.

Connectors use the period helpers to aggregate a series (an hour, a day or a month of the
city's calendar, so a daily total is midnight to midnight in Sofia, across daylight-saving
changes). The broker calls :func:`enforce` on whatever a connector returns, so a buggy or
hostile connector cannot hand a service a field, a date or a granularity the consent does not
cover: the read fails with :class:`~connectors.base.BadUpstreamData` instead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from commons.clock import city_zone
from connectors.base import (
    BadUpstreamData,
    Constraints,
    Granularity,
    ResourceDescription,
)


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the city, as an aware date-time."""
    return datetime.combine(day, time(0), tzinfo=city_zone())


def window(constraints: Constraints) -> tuple[datetime, datetime]:
    """The half-open instant range ``[start, end)`` that the constraints' dates cover."""
    if constraints.date_from is None or constraints.date_to is None:
        raise ValueError("the broker resolves both dates before a dated read")
    return day_start(constraints.date_from), day_start(constraints.date_to + timedelta(days=1))


def period_start(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the hour, day or month that ``moment`` falls in, in the city's time."""
    local = moment.astimezone(city_zone())
    if granularity is Granularity.HOURLY:
        return local.replace(minute=0, second=0, microsecond=0)
    if granularity is Granularity.DAILY:
        return day_start(local.date())
    return day_start(local.date().replace(day=1))


def period_end(start: datetime, granularity: Granularity) -> datetime:
    """The exclusive end of the period that begins at ``start``."""
    if granularity is Granularity.HOURLY:
        # In UTC, so the hour that repeats when clocks go back is still one hour long.
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(city_zone())
    local = start.astimezone(city_zone()).date()
    if granularity is Granularity.DAILY:
        return day_start(local + timedelta(days=1))
    month_after = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day_start(month_after)


def periods(start: datetime, end: datetime, granularity: Granularity) -> Iterator[datetime]:
    """The starts of every whole period inside ``[start, end)``."""
    return (first for first, _ in _spans(start, end, granularity))


def _spans(
    start: datetime, end: datetime, granularity: Granularity
) -> Iterator[tuple[datetime, datetime]]:
    # Compared in UTC: two date-times of the same zone compare by wall clock, so the hour that
    # repeats when clocks go back would otherwise equal its twin.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    current = period_start(start, granularity)
    if current.astimezone(UTC) < start:
        current = period_end(current, granularity)
    while (after := period_end(current, granularity)).astimezone(UTC) <= end:
        yield current, after
        current = after


def aggregate(
    readings: Iterable[tuple[datetime, float]],
    granularity: Granularity,
    constraints: Constraints,
    *,
    value_key: str = "value",
    digits: int = 3,
) -> list[dict[str, Any]]:
    """Sum ``(instant, value)`` readings into whole periods inside the constraints' window.

    Only periods that lie wholly inside the window are returned, so a monthly total never
    includes a day the consent leaves out. Periods without readings are left out. Readings in
    time order are summed fastest (a period is looked up once, not once per reading).
    """
    start, end = window(constraints)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    # Keyed by UTC instants: local period starts that differ only in ``fold`` (the hour that
    # repeats when clocks go back) are equal, and hash alike, in the city's zone.
    totals: dict[datetime, float] = {}
    key = after = start
    for moment, value in readings:
        if not start <= moment < end:
            continue
        if not key <= moment < after:
            first = period_start(moment, granularity)
            key = first.astimezone(UTC)
            after = period_end(first, granularity).astimezone(UTC)
        totals[key] = totals.get(key, 0.0) + value
    records = []
    for first, after in _spans(start, end, granularity):
        total = totals.get(first.astimezone(UTC))
        if total is not None:
            records.append(
                {
                    "start": first.isoformat(),
                    "end": after.isoformat(),
                    value_key: round(total, digits),
                }
            )
    return records


def parse_instant(value: Any) -> datetime:
    """Read a record's ``start`` or ``end``: a date (city midnight) or an aware date-time."""
    if not isinstance(value, str):
        raise BadUpstreamData("a dated record's start or end is not a string")
    try:
        if len(value) == 10:
            return day_start(date.fromisoformat(value))
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadUpstreamData("a dated record's start or end is not ISO 8601") from exc
    if moment.tzinfo is None:
        raise BadUpstreamData("a dated record's date-time has no UTC offset")
    return moment


def enforce(
    resource: ResourceDescription,
    fields: Collection[str],
    constraints: Constraints,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """Return ``data`` if it holds exactly ``fields`` within ``constraints``; else raise.

    This is the last gate before data leaves the broker, run for every connector.
    """
    if not isinstance(data, Mapping):
        raise BadUpstreamData("the connector did not return a mapping of fields")
    if set(data) != set(fields):
        raise BadUpstreamData("the connector returned other fields than those asked for")
    if not resource.dated:
        return dict(data)
    if resource.granularities and constraints.granularity is None:
        raise ValueError("the broker resolves the granularity before a time-series read")
    start, end = window(constraints)
    periods_in_window = (
        _period_bounds(constraints.date_from, constraints.date_to, constraints.granularity)
        if constraints.granularity is not None
        else None
    )
    for name in fields:
        if resource.fields[name].dated:
            _check_records(
                data[name],
                start.timestamp(),
                end.timestamp(),
                periods_in_window,
                constraints.granularity,
            )
    return dict(data)


@lru_cache(maxsize=512)
def _period_bounds(date_from: date, date_to: date, granularity: Granularity) -> dict[float, float]:
    """Start → end (POSIX seconds) of every whole period of a window; windows repeat, so cached.

    POSIX seconds compare as instants whatever the offset a record is written with, so the
    hour that repeats when clocks go back needs no special care here.
    """
    start, end = day_start(date_from), day_start(date_to + timedelta(days=1))
    return {
        first.timestamp(): after.timestamp() for first, after in _spans(start, end, granularity)
    }


def _check_records(
    records: Any,
    start: float,
    end: float,
    periods_in_window: dict[float, float] | None,
    granularity: Granularity | None,
) -> None:
    if not isinstance(records, list):
        raise BadUpstreamData("a dated field is not a list of records")
    for record in records:
        if not isinstance(record, Mapping):
            raise BadUpstreamData("a dated record is not an object")
        # Plain values only: finer data cannot hide in a nested list inside a coarse record.
        if not all(isinstance(value, _PLAIN) for value in record.values()):
            raise BadUpstreamData("a dated record holds a nested value")
        first = parse_instant(record.get("start")).timestamp()
        after = parse_instant(record.get("end")).timestamp()
        if not start <= first < after <= end:
            raise BadUpstreamData("a dated record lies outside the consented date range")
        if periods_in_window is not None and periods_in_window.get(first) != after:
            assert granularity is not None
            raise BadUpstreamData(f"a record is not one whole {granularity.value} period")


_PLAIN = (str, int, float, bool, type(None))
