"""The city's calendar for dated records, and the broker's last gate on every answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commons import egn
from commons.clock import city_zone
from connectors import meter_readings
from connectors.base import (
    BadUpstreamData,
    Constraints,
    FieldDescription,
    Granularity,
    ResourceDescription,
    SubjectRef,
)
from connectors.limits import (
    aggregate,
    day_start,
    enforce,
    parse_instant,
    period_end,
    period_start,
    periods,
    window,
)
from connectors.meter_readings import MeterReadingsConnector
from demo import meter_readings as demo_meter_readings

HOURLY, DAILY, MONTHLY = Granularity.HOURLY, Granularity.DAILY, Granularity.MONTHLY
SOFIA = city_zone()
EET, EEST = timezone(timedelta(hours=2)), timezone(timedelta(hours=3))
#: Clocks go forward at 03:00 (a 23-hour day) and back at 04:00 (a 25-hour day).
SPRING_FORWARD, FALL_BACK = date(2026, 3, 29), date(2026, 10, 25)
HOUR = timedelta(hours=1)

DPV = "https://w3id.org/dpv/pd#"
SERIES = ResourceDescription(
    "electricity",
    "Електроенергия",
    "Electricity",
    {
        "consumption": FieldDescription(
            "consumption", "Потребление", "Consumption", DPV + "Household", dated=True
        ),
        "meter_id": FieldDescription("meter_id", "Уред", "Meter", DPV + "Identifier"),
    },
    granularities=(HOURLY, DAILY, MONTHLY),
)
PLAIN = ResourceDescription(
    "person",
    "Лице",
    "Person",
    {"given_name": FieldDescription("given_name", "Име", "Given name", DPV + "Name")},
)


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _instant(moment: datetime) -> datetime:
    # PEP 495: a Europe/Sofia time in the repeated hour is unequal to every time of another zone,
    # even the same instant, so such comparisons are made in UTC.
    return moment.astimezone(UTC)


def _hours(start: datetime, end: datetime) -> float:
    # In UTC: subtracting two date-times of one zone ignores a clock change between them.
    return (end.astimezone(UTC) - start.astimezone(UTC)) / HOUR


# -- periods in the city's calendar ---------------------------------------------------------------


def test_a_day_starts_at_midnight_in_sofia() -> None:
    assert day_start(date(2026, 1, 15)) == datetime(2026, 1, 14, 22, tzinfo=UTC)
    assert day_start(date(2026, 7, 15)) == datetime(2026, 7, 14, 21, tzinfo=UTC)


def test_the_window_covers_whole_days_with_both_dates_inclusive() -> None:
    start, end = window(Constraints(date(2026, 1, 1), date(2026, 1, 31), DAILY))
    assert start == datetime(2026, 1, 1, tzinfo=EET)
    assert end == datetime(2026, 2, 1, tzinfo=EET)
    with pytest.raises(ValueError):
        window(Constraints(None, date(2026, 1, 31)))


def test_the_spring_forward_day_has_23_hours() -> None:
    start = day_start(SPRING_FORWARD)
    end = period_end(start, DAILY)
    assert _hours(start, end) == 23
    assert end == datetime(2026, 3, 30, tzinfo=EEST)
    hours = list(periods(start, end, HOURLY))
    assert len(hours) == 23
    assert [h.astimezone(SOFIA).hour for h in hours] == [0, 1, 2, *range(4, 24)]
    # 02:00 EET is followed directly by 04:00 EEST: one hour of real time.
    two_oclock = datetime(2026, 3, 29, 2, tzinfo=EET)
    assert period_end(two_oclock, HOURLY) == datetime(2026, 3, 29, 4, tzinfo=EEST)
    assert period_start(_utc(2026, 3, 29, 1, 30), HOURLY) == datetime(2026, 3, 29, 4, tzinfo=EEST)


def test_the_fall_back_day_has_25_hours_and_two_three_oclocks() -> None:
    start = day_start(FALL_BACK)
    end = period_end(start, DAILY)
    assert _hours(start, end) == 25
    hours = list(periods(start, end, HOURLY))
    assert len(hours) == 25
    assert len({h.astimezone(UTC) for h in hours}) == 25, "the repeated hour is two periods"
    assert [h.astimezone(SOFIA).hour for h in hours].count(3) == 2
    first_three = datetime(2026, 10, 25, 3, tzinfo=EEST)
    second_three = datetime(2026, 10, 25, 3, tzinfo=EET)
    assert _instant(period_start(_utc(2026, 10, 25, 0, 30), HOURLY)) == _instant(first_three)
    assert _instant(period_start(_utc(2026, 10, 25, 1, 30), HOURLY)) == _instant(second_three)
    assert _instant(period_end(first_three, HOURLY)) == _instant(second_three)
    assert period_end(second_three, HOURLY) == datetime(2026, 10, 25, 4, tzinfo=EET)
    for hour in hours:
        assert _hours(hour, period_end(hour, HOURLY)) == 1


def test_a_day_is_the_local_date_not_the_utc_one() -> None:
    # 23:30 UTC on 31 January is already 1 February in Sofia.
    moment = _utc(2026, 1, 31, 23, 30)
    assert period_start(moment, DAILY) == datetime(2026, 2, 1, tzinfo=EET)
    assert period_start(moment, MONTHLY) == datetime(2026, 2, 1, tzinfo=EET)


@pytest.mark.parametrize(
    ("month_start", "next_month", "days"),
    [
        (date(2028, 2, 1), date(2028, 3, 1), 29),  # a leap year
        (date(2026, 2, 1), date(2026, 3, 1), 28),
        (date(2026, 4, 1), date(2026, 5, 1), 30),
        (date(2026, 12, 1), date(2027, 1, 1), 31),
    ],
)
def test_month_ends(month_start: date, next_month: date, days: int) -> None:
    start = day_start(month_start)
    end = period_end(start, MONTHLY)
    assert end == day_start(next_month)
    assert len(list(periods(start, end, DAILY))) == days
    last_moment = end - timedelta(microseconds=1)
    assert period_start(last_moment, MONTHLY) == start


def test_months_with_a_clock_change_are_an_hour_short_or_long() -> None:
    march = day_start(date(2026, 3, 1))
    october = day_start(date(2026, 10, 1))
    assert _hours(march, period_end(march, MONTHLY)) == 31 * 24 - 1
    assert _hours(october, period_end(october, MONTHLY)) == 31 * 24 + 1


def test_periods_are_only_the_whole_ones_inside_the_window() -> None:
    start, end = window(Constraints(date(2026, 1, 15), date(2026, 4, 20)))
    assert list(periods(start, end, MONTHLY)) == [
        day_start(date(2026, 2, 1)),
        day_start(date(2026, 3, 1)),
    ]
    start, end = window(Constraints(date(2026, 3, 1), date(2026, 3, 31)))
    assert list(periods(start, end, MONTHLY)) == [day_start(date(2026, 3, 1))]
    start, end = window(Constraints(date(2026, 3, 2), date(2026, 3, 31)))
    assert list(periods(start, end, MONTHLY)) == []
    start, end = window(Constraints(date(2028, 2, 1), date(2028, 2, 29)))
    assert len(list(periods(start, end, DAILY))) == 29


# -- aggregate ------------------------------------------------------------------------------------


def _every(
    start: datetime, end: datetime, step: timedelta, value: float = 1.0
) -> Iterator[tuple[datetime, float]]:
    moment = start.astimezone(UTC)
    while moment < end:
        yield moment, value
        moment += step


def test_aggregate_sums_each_whole_period_inside_the_window() -> None:
    constraints = Constraints(date(2026, 1, 15), date(2026, 4, 20), MONTHLY)
    # A reading every 15 minutes from well before the window to well after it.
    readings = list(
        _every(day_start(date(2025, 12, 1)), day_start(date(2026, 6, 1)), timedelta(minutes=15))
    )
    records = aggregate(readings, MONTHLY, constraints, value_key="kwh")
    assert records == [
        {
            "start": "2026-02-01T00:00:00+02:00",
            "end": "2026-03-01T00:00:00+02:00",
            "kwh": 28 * 24 * 4,
        },
        {
            "start": "2026-03-01T00:00:00+02:00",
            "end": "2026-04-01T00:00:00+03:00",
            "kwh": (31 * 24 - 1) * 4,
        },
    ]


def test_aggregate_leaves_out_periods_without_readings_and_rounds() -> None:
    constraints = Constraints(date(2026, 5, 1), date(2026, 5, 3), DAILY)
    readings = [(_utc(2026, 5, 1, 8), 0.1234), (_utc(2026, 5, 1, 9), 0.1), (_utc(2026, 5, 3, 9), 2)]
    assert aggregate(readings, DAILY, constraints, digits=2) == [
        {"start": "2026-05-01T00:00:00+03:00", "end": "2026-05-02T00:00:00+03:00", "value": 0.22},
        {"start": "2026-05-03T00:00:00+03:00", "end": "2026-05-04T00:00:00+03:00", "value": 2},
    ]


def test_aggregate_keeps_the_repeated_hour_apart() -> None:
    constraints = Constraints(FALL_BACK, FALL_BACK, HOURLY)
    start, _ = window(constraints)
    readings = [(start.astimezone(UTC) + n * HOUR, float(n)) for n in range(25)]
    records = aggregate(readings, HOURLY, constraints)
    assert [r["value"] for r in records] == [float(n) for n in range(25)]
    assert records[3] == {
        "start": "2026-10-25T03:00:00+03:00",
        "end": "2026-10-25T03:00:00+02:00",
        "value": 3.0,
    }
    assert records[4]["start"] == "2026-10-25T03:00:00+02:00"


def test_aggregate_does_not_depend_on_the_order_of_the_readings() -> None:
    constraints = Constraints(date(2026, 10, 20), date(2026, 11, 3), DAILY)
    readings = [
        (moment, float(n % 7))
        for n, (moment, _) in enumerate(
            _every(day_start(date(2026, 10, 18)), day_start(date(2026, 11, 5)), HOUR / 2)
        )
    ]
    shuffled = readings[1::2] + readings[::2][::-1]
    assert sorted(shuffled) == readings
    assert aggregate(shuffled, DAILY, constraints) == aggregate(readings, DAILY, constraints)


# -- enforce --------------------------------------------------------------------------------------

DAILY_JANUARY = Constraints(date(2026, 1, 1), date(2026, 1, 31), DAILY)


def _answer(*records: dict[str, Any], meter: str = "EL-1") -> dict[str, Any]:
    return {"consumption": list(records), "meter_id": meter}


def _day(day: str, **values: Any) -> dict[str, Any]:
    start = date.fromisoformat(day)
    return {"start": day, "end": (start + timedelta(days=1)).isoformat(), "kwh": 1.5, **values}


def test_a_good_answer_passes_unchanged() -> None:
    answer = _answer(
        _day("2026-01-01"),
        {"start": "2026-01-31T00:00:00+02:00", "end": "2026-02-01T00:00:00+02:00", "kwh": 2},
    )
    passed = enforce(SERIES, ["consumption", "meter_id"], DAILY_JANUARY, answer)
    assert passed == answer
    assert enforce(PLAIN, ["given_name"], Constraints(), {"given_name": "Мария"}) == {
        "given_name": "Мария"
    }


def test_hourly_records_around_the_clock_changes_pass() -> None:
    for day in (SPRING_FORWARD, FALL_BACK):
        constraints = Constraints(day, day, HOURLY)
        start, end = window(constraints)
        records = [
            {"start": first.isoformat(), "end": period_end(first, HOURLY).isoformat(), "kwh": 1}
            for first in periods(start, end, HOURLY)
        ]
        assert enforce(SERIES, ["consumption"], constraints, {"consumption": records})
        # The same records written in UTC are the same periods.
        in_utc = [
            {
                "start": parse_instant(r["start"]).astimezone(UTC).isoformat(),
                "end": parse_instant(r["end"]).astimezone(UTC).isoformat(),
            }
            for r in records
        ]
        assert enforce(SERIES, ["consumption"], constraints, {"consumption": in_utc})


@pytest.mark.parametrize(
    ("fields", "data"),
    [
        (["consumption"], _answer(_day("2026-01-05"))),  # meter_id was not asked for
        (["consumption", "meter_id"], {"consumption": [_day("2026-01-05")]}),
        (["consumption", "meter_id"], [("consumption", [])]),
        (["consumption", "meter_id"], "consumption"),
        (["consumption", "meter_id"], None),
    ],
    ids=["extra field", "missing field", "list of pairs", "string", "none"],
)
def test_other_fields_or_shapes_are_refused(fields: list[str], data: Any) -> None:
    with pytest.raises(BadUpstreamData):
        enforce(SERIES, fields, DAILY_JANUARY, data)


@pytest.mark.parametrize(
    "record",
    [
        _day("2025-12-31"),
        _day("2026-02-01"),
        {"start": "2026-01-31T00:00:00+02:00", "end": "2026-02-01T01:00:00+02:00", "kwh": 1},
        {"start": "2025-12-31T23:00:00+02:00", "end": "2026-01-01T23:00:00+02:00", "kwh": 1},
        {"start": "2025-12-31T21:00:00+00:00", "end": "2026-01-01T21:00:00+00:00", "kwh": 1},
        {"start": "2026-01-31T12:00:00+02:00", "end": "2026-02-01T12:00:00+02:00", "kwh": 1},
    ],
    ids=[
        "day before",
        "day after",
        "past the end",
        "straddling the start",
        "straddling the start, in UTC",
        "straddling the end",
    ],
)
def test_a_record_outside_the_window_or_across_its_edge_is_refused(
    record: dict[str, Any],
) -> None:
    with pytest.raises(BadUpstreamData):
        enforce(SERIES, ["consumption"], DAILY_JANUARY, {"consumption": [record]})


@pytest.mark.parametrize(
    ("granularity", "record"),
    [
        (DAILY, {"start": "2026-01-05T00:00:00+02:00", "end": "2026-01-05T01:00:00+02:00"}),
        (DAILY, {"start": "2026-01-05T06:00:00+02:00", "end": "2026-01-06T06:00:00+02:00"}),
        (DAILY, {"start": "2026-01-05", "end": "2026-01-07"}),
        (DAILY, {"start": "2026-01-05T00:00:00+00:00", "end": "2026-01-06T00:00:00+00:00"}),
        (MONTHLY, _day("2026-01-05")),
        (MONTHLY, {"start": "2026-01-01", "end": "2026-01-31"}),
        (HOURLY, _day("2026-01-05")),
        (HOURLY, {"start": "2026-01-05T06:30:00+02:00", "end": "2026-01-05T07:30:00+02:00"}),
    ],
    ids=[
        "hourly when daily asked",
        "daily not midnight-aligned",
        "two days",
        "a UTC day, not a Sofia one",
        "daily when monthly asked",
        "a month short of a day",
        "daily when hourly asked",
        "hour not on the hour",
    ],
)
def test_a_record_that_is_not_one_whole_period_is_refused(
    granularity: Granularity, record: dict[str, Any]
) -> None:
    constraints = Constraints(date(2026, 1, 1), date(2026, 1, 31), granularity)
    with pytest.raises(BadUpstreamData, match=granularity.value):
        enforce(SERIES, ["consumption"], constraints, {"consumption": [record]})


@pytest.mark.parametrize(
    "record",
    [
        {"start": "2026-01-05T00:00:00", "end": "2026-01-06T00:00:00"},  # naive
        {"start": "2026-01-05", "end": "tomorrow"},
        {"start": "05.01.2026", "end": "2026-01-06"},
        {"start": "2026-01-32", "end": "2026-02-01"},
        {"start": 20260105, "end": "2026-01-06"},
        {"end": "2026-01-06"},
        {"start": "2026-01-06", "end": "2026-01-05"},
        {"start": "2026-01-05", "end": "2026-01-05"},
        ["2026-01-05", "2026-01-06"],
        "2026-01-05",
    ],
    ids=[
        "naive date-times",
        "malformed end",
        "local date format",
        "no such day",
        "a number",
        "no start",
        "ends before it starts",
        "empty",
        "a list",
        "a string",
    ],
)
def test_malformed_records_are_refused(record: Any) -> None:
    with pytest.raises(BadUpstreamData):
        enforce(SERIES, ["consumption"], DAILY_JANUARY, {"consumption": [record]})


def test_a_dated_field_that_is_not_a_list_is_refused() -> None:
    for value in ({"start": "2026-01-05", "end": "2026-01-06"}, "2026-01-05", None):
        with pytest.raises(BadUpstreamData):
            enforce(SERIES, ["consumption"], DAILY_JANUARY, {"consumption": value})


# -- properties -----------------------------------------------------------------------------------

#: Two years around the clock changes of 2026 and 2027, and the leap day of 2028.
FIRST_DAY, LAST_DAY = date(2025, 12, 20), date(2028, 3, 10)
CLOCK_CHANGES = [
    SPRING_FORWARD,
    FALL_BACK,
    date(2027, 3, 28),
    date(2027, 10, 31),
    date(2025, 10, 26),
]

granularities = st.sampled_from(list(Granularity))


@st.composite
def windows(draw: st.DrawFn, first: date, last: date, max_days: int) -> tuple[date, date]:
    """A window of whole days in ``[first, last]``, often starting by a clock change."""
    near_a_change = [
        day - timedelta(days=back)
        for day in CLOCK_CHANGES
        for back in (0, 1, 3)
        if first <= day - timedelta(days=back) <= last
    ]
    anywhere = st.dates(min_value=first, max_value=last)
    start = draw(st.one_of(anywhere, st.sampled_from(near_a_change)) if near_a_change else anywhere)
    length = draw(st.integers(min_value=0, max_value=max_days))
    return start, min(last, start + timedelta(days=length))


@st.composite
def series(
    draw: st.DrawFn,
) -> tuple[Granularity, tuple[date, date], list[tuple[datetime, float]]]:
    """A granularity, a window, and readings in and around the window (some on its edges)."""
    granularity = draw(granularities)
    dates = draw(windows(FIRST_DAY, LAST_DAY, 40 if granularity is HOURLY else 500))
    start, end = window(Constraints(*dates))
    around = (start - timedelta(days=40), end + timedelta(days=40))
    seconds = int((around[1] - around[0]).total_seconds())
    instants = st.one_of(
        st.integers(min_value=0, max_value=seconds).map(
            lambda s: around[0].astimezone(UTC) + timedelta(seconds=s)
        ),
        # The first and last instants of the window, and just outside it.
        st.sampled_from([start, end - timedelta(microseconds=1), start - HOUR / 4, end]).map(
            lambda moment: moment.astimezone(UTC)
        ),
    )
    values = st.floats(min_value=0, max_value=50, allow_nan=False).map(lambda v: round(v, 3))
    readings = draw(st.lists(st.tuples(instants, values), max_size=300))
    changes = [change for change in CLOCK_CHANGES if dates[0] <= change <= dates[1]]
    if changes:
        # Also readings in the hours around the window's changes of the clocks (at 01:00 UTC).
        # Made in UTC: adding to a Sofia time moves its wall clock, never to the repeated hour.
        near_a_change = st.tuples(
            st.sampled_from(changes), st.integers(min_value=-3 * 60, max_value=3 * 60 - 1)
        ).map(lambda c: datetime.combine(c[0], time(1), UTC) + timedelta(minutes=c[1]))
        readings += draw(st.lists(st.tuples(near_a_change, values), min_size=1, max_size=12))
    return granularity, dates, readings


def _local(moment: datetime) -> datetime:
    return moment.astimezone(SOFIA)


def _assert_one_whole_period(start: datetime, end: datetime, granularity: Granularity) -> None:
    """Check the period's shape from first principles, not with the helpers under test."""
    local_start, local_end = _local(start), _local(end)
    if granularity is HOURLY:
        assert _hours(start, end) == 1
        assert (local_start.minute, local_start.second, local_start.microsecond) == (0, 0, 0)
        return
    assert local_start.time() == local_end.time() == datetime.min.time()
    if granularity is DAILY:
        assert local_end.date() - local_start.date() == timedelta(days=1)
        assert 23 <= _hours(start, end) <= 25
    else:
        assert local_start.day == local_end.day == 1
        months = (local_end.year - local_start.year) * 12 + local_end.month - local_start.month
        assert months == 1


def _whole_in_window(reading: datetime, granularity: Granularity, first: date, last: date) -> bool:
    """Whether the period holding ``reading`` lies wholly in the window, from first principles."""
    local = _local(reading)
    if granularity is MONTHLY:
        month_first = local.date().replace(day=1)
        month_last = (month_first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return first <= month_first and month_last <= last
    return first <= local.date() <= last


@settings(max_examples=100, deadline=None)
@given(example=series(), shuffle=st.randoms(use_true_random=False))
def test_aggregate_returns_only_whole_periods_inside_the_window_and_keeps_the_sums(
    example: tuple[Granularity, tuple[date, date], list[tuple[datetime, float]]], shuffle: Any
) -> None:
    granularity, dates, readings = example
    constraints = Constraints(*dates, granularity)
    shuffle.shuffle(readings)
    records = aggregate(readings, granularity, constraints)
    start, end = window(constraints)
    spans = [
        (datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])) for r in records
    ]
    for first, after in spans:
        assert start <= first < after <= end
        _assert_one_whole_period(first, after, granularity)
    assert spans == sorted(spans), "records come in time order"
    assert len({first.astimezone(UTC) for first, _ in spans}) == len(spans)
    assert enforce(SERIES, ["consumption"], constraints, {"consumption": records})

    for record, (first, after) in zip(records, spans, strict=True):
        expected = sum(value for moment, value in readings if first <= moment < after)
        assert record["value"] == pytest.approx(expected, abs=0.0006)
    whole = [v for m, v in readings if _whole_in_window(m, granularity, *dates)]
    assert sum(r["value"] for r in records) == pytest.approx(sum(whole), abs=0.0006 * len(records))
    assert len(records) <= len(whole)


# -- properties of a real connector ---------------------------------------------------------------

TODAY = date(2026, 12, 1)
DATA_DAYS = 400
MARIA = egn.make(date(1988, 3, 14), 471)
ELENA = egn.make(date(1951, 9, 30), 593)


@pytest.fixture(scope="module")
def meters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeterReadingsConnector]:
    """The meter readings connector over a SQLite file with the demo's readings."""
    path: Path = tmp_path_factory.mktemp("meters") / "meters.sqlite3"
    connector = MeterReadingsConnector(f"sqlite:///{path}")
    people = [
        {"national_id": MARIA, "birth_date": date(1988, 3, 14), "address": "ул. Милин камък 12"},
        {"national_id": ELENA, "birth_date": date(1951, 9, 30), "address": "ж.к. Младост 1"},
    ]
    meter_readings.create_schema(connector.engine)
    demo_meter_readings.seed_demo(connector.engine, people, today=TODAY, days=DATA_DAYS)
    yield connector
    connector.engine.dispose()


@st.composite
def reads(draw: st.DrawFn) -> tuple[str, list[str], Constraints]:
    resource = draw(st.sampled_from(["electricity", "water"]))
    fields = draw(
        st.lists(st.sampled_from(["consumption", "total", "meter_ids"]), min_size=1, unique=True)
    )
    granularity = draw(granularities)
    # Beyond the data on both sides too; hourly reads are a month at most (the broker caps them).
    longest = 31 if granularity is HOURLY else 450
    first, last = draw(
        windows(TODAY - timedelta(days=DATA_DAYS + 20), TODAY + timedelta(days=5), longest)
    )
    return resource, fields, Constraints(first, last, granularity)


@settings(max_examples=60, deadline=None)
@given(read=reads(), who=st.sampled_from([MARIA, ELENA]))
def test_the_connector_returns_only_the_consented_fields_dates_and_granularity(
    meters: MeterReadingsConnector, read: tuple[str, list[str], Constraints], who: str
) -> None:
    resource, fields, constraints = read
    description = meter_readings.DESCRIPTION.resources[resource]
    data = meters.fetch(SubjectRef(who), resource, fields, constraints)
    assert set(data) == set(fields)
    assert enforce(description, fields, constraints, data) == data
    if "consumption" not in data:
        return
    start, end = window(constraints)
    assert constraints.granularity is not None
    for record in data["consumption"]:
        first, after = parse_instant(record["start"]), parse_instant(record["end"])
        assert start <= first < after <= end
        # Never finer than asked: a daily record is a whole local day, a monthly one a month.
        _assert_one_whole_period(first, after, constraints.granularity)
        assert set(record) == {"start", "end", "kwh" if resource == "electricity" else "m3"}
    if "total" in data:
        values = [r["kwh" if resource == "electricity" else "m3"] for r in data["consumption"]]
        assert data["total"] == (pytest.approx(sum(values), abs=1e-6) if values else None)
