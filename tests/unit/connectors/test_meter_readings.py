"""Electricity and water meter readings on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.engine import Engine

from commons import egn
from commons.clock import city_zone
from connectors import meter_readings
from connectors.base import (
    Connector,
    ConnectorConfigError,
    Constraints,
    Granularity,
    ResourceDescription,
    SourceTimeout,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
)
from connectors.contract import ConnectorContract
from connectors.limits import day_start, enforce
from connectors.meter_readings import MeterReadingsConnector
from connectors.registry import ConnectorSpec, instantiate
from demo import meter_readings as demo_meter_readings
from demo.meter_readings import demo_meter_id
from tests.unit.connectors.sqldb import BACKENDS, fresh_database_url, locked

HOURLY, DAILY, MONTHLY = Granularity.HOURLY, Granularity.DAILY, Granularity.MONTHLY
SOFIA = city_zone()
MARIA = egn.make(date(1988, 3, 14), 471)
GEORGI = egn.make(date(1985, 11, 2), 186)
NIKOLA = egn.make(date(2021, 6, 21), 244)
ELENA = egn.make(date(1951, 9, 30), 593)
LOZENETS = "гр. София, ж.к. Лозенец, ул. Милин камък 12, ап. 4"
MLADOST = "гр. София, ж.к. Младост 1, бл. 27, вх. Б, ап. 31"
#: The demo's readings are the 400 days before this one.
TODAY = date(2026, 12, 1)
FIRST_DAY = TODAY - timedelta(days=400)
HOURS_OF_DATA = int((day_start(TODAY) - day_start(FIRST_DAY).astimezone(UTC)) / timedelta(hours=1))
UNIT = {"electricity": "kwh", "water": "m3"}
ALL_FIELDS = ["consumption", "total", "meter_ids"]


def demo_people() -> list[dict[str, Any]]:
    """The demo's households, as demo/seed.py hands them to ``seed_demo``."""
    return [
        {"national_id": MARIA, "given_name": "Мария", "family_name": "Петрова",
         "birth_date": date(1988, 3, 14), "address": LOZENETS},
        {"national_id": GEORGI, "given_name": "Георги", "family_name": "Петров",
         "birth_date": date(1985, 11, 2), "address": LOZENETS},
        {"national_id": NIKOLA, "given_name": "Никола", "family_name": "Петров",
         "birth_date": date(2021, 6, 21), "address": LOZENETS},
        {"national_id": ELENA, "given_name": "Елена", "family_name": "Костова",
         "birth_date": date(1951, 9, 30), "address": MLADOST},
    ]  # fmt: skip


def seed(engine: Engine, today: date = TODAY, days: int = 400) -> int:
    meter_readings.create_schema(engine)
    return demo_meter_readings.seed_demo(engine, demo_people(), today=today, days=days)


@pytest.fixture(scope="module", params=BACKENDS)
def demo_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database per backend holding the demo's meters and readings."""
    for url in fresh_database_url(request.param, tmp_path_factory.mktemp("meters")):
        engine = create_engine(url)
        try:
            seed(engine)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(scope="module")
def meters(demo_url: str) -> Iterator[MeterReadingsConnector]:
    connector = MeterReadingsConnector(demo_url)
    yield connector
    connector.engine.dispose()


def raw_readings(engine: Engine, meter_id: str) -> list[tuple[datetime, float]]:
    """A meter's readings as stored, read without the connector."""
    table = meter_readings.meter_readings
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.read_at, table.c.value).where(table.c.meter_id == meter_id)
        ).all()
    return [
        (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC), value)
        for moment, value in rows
    ]


def local_totals(readings: list[tuple[datetime, float]], key: Any) -> dict[Any, float]:
    """Sum readings by ``key(local date-time)``, with zoneinfo alone, as a reference."""
    totals: dict[Any, float] = defaultdict(float)
    for moment, value in readings:
        totals[key(moment.astimezone(SOFIA))] += value
    return totals


def starts(records: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(record["start"]) for record in records]


# -- the contract kit ---------------------------------------------------------------------------


class TestMeterReadingsContract(ConnectorContract):
    @pytest.fixture
    def connector(self, meters: MeterReadingsConnector) -> MeterReadingsConnector:
        return meters

    @pytest.fixture
    def subject(self) -> SubjectRef:
        return SubjectRef(MARIA)

    @pytest.fixture
    def other_subject(self) -> SubjectRef:
        return SubjectRef(ELENA)

    @pytest.fixture
    def unavailable_connector(self, tmp_path: Path) -> Iterator[Connector]:
        # A database file in a directory that does not exist: SQLite cannot open it.
        connector = MeterReadingsConnector(f"sqlite:///{tmp_path / 'gone' / 'meters.sqlite3'}")
        yield connector
        connector.engine.dispose()

    def dated_constraints(self, resource: ResourceDescription) -> Constraints:
        # The year of demo readings before TODAY, at the coarsest granularity.
        return Constraints(TODAY - timedelta(days=366), TODAY - timedelta(days=1), MONTHLY)


# -- what a read returns ------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["electricity", "water"])
def test_a_monthly_read_sums_the_whole_months_inside_the_window(
    meters: MeterReadingsConnector, demo_url: str, resource: str
) -> None:
    constraints = Constraints(date(2026, 1, 15), date(2026, 4, 20), MONTHLY)
    data = meters.fetch(SubjectRef(MARIA), resource, ALL_FIELDS, constraints)
    meter_id = demo_meter_id(resource, MARIA)
    assert data["meter_ids"] == [meter_id]
    records = data["consumption"]
    assert [(r["start"], r["end"]) for r in records] == [
        ("2026-02-01T00:00:00+02:00", "2026-03-01T00:00:00+02:00"),
        ("2026-03-01T00:00:00+02:00", "2026-04-01T00:00:00+03:00"),
    ]
    expected = local_totals(raw_readings(meters.engine, meter_id), lambda t: (t.year, t.month))
    unit = UNIT[resource]
    assert records[0][unit] == pytest.approx(expected[2026, 2], abs=0.0005)
    assert records[1][unit] == pytest.approx(expected[2026, 3], abs=0.0005)
    assert data["total"] == pytest.approx(records[0][unit] + records[1][unit], abs=1e-9)


def test_daily_records_are_local_days_across_the_clock_changes(
    meters: MeterReadingsConnector,
) -> None:
    constraints = Constraints(date(2026, 3, 28), date(2026, 10, 26), DAILY)
    data = meters.fetch(SubjectRef(ELENA), "electricity", ["consumption"], constraints)
    records = {datetime.fromisoformat(r["start"]).date(): r for r in data["consumption"]}
    assert len(records) == (constraints.date_to - constraints.date_from).days + 1
    expected = local_totals(
        raw_readings(meters.engine, demo_meter_id("electricity", ELENA)), lambda t: t.date()
    )
    for day, record in records.items():
        assert record["kwh"] == pytest.approx(expected[day], abs=0.0005)
        hours = datetime.fromisoformat(record["end"]) - datetime.fromisoformat(record["start"])
        assert hours == timedelta(
            hours={date(2026, 3, 29): 23, date(2026, 10, 25): 25}.get(day, 24)
        )


def test_hourly_records_on_the_day_the_clocks_go_back(meters: MeterReadingsConnector) -> None:
    constraints = Constraints(date(2026, 10, 25), date(2026, 10, 25), HOURLY)
    data = meters.fetch(SubjectRef(MARIA), "electricity", ["consumption"], constraints)
    records = data["consumption"]
    assert len(records) == 25
    assert [r["start"][11:] for r in records[2:6]] == [
        "02:00:00+03:00",
        "03:00:00+03:00",
        "03:00:00+02:00",
        "04:00:00+02:00",
    ]
    # Each hour is the sum of its four 15-minute readings, the repeated hour twice apart.
    day = (day_start(date(2026, 10, 25)), day_start(date(2026, 10, 26)))
    readings = [
        (moment, value)
        for moment, value in raw_readings(meters.engine, demo_meter_id("electricity", MARIA))
        if day[0] <= moment < day[1]
    ]
    assert len(readings) == 25 * 4
    for record in records:
        first, after = (datetime.fromisoformat(record[key]) for key in ("start", "end"))
        inside = [value for moment, value in readings if first <= moment < after]
        assert len(inside) == 4
        assert record["kwh"] == pytest.approx(sum(inside), abs=0.0005)


def test_the_day_the_clocks_go_forward_has_23_hourly_records(
    meters: MeterReadingsConnector,
) -> None:
    constraints = Constraints(date(2026, 3, 29), date(2026, 3, 29), HOURLY)
    data = meters.fetch(SubjectRef(MARIA), "water", ["consumption"], constraints)
    hours = [t.astimezone(SOFIA).hour for t in starts(data["consumption"])]
    assert hours == [0, 1, 2, *range(4, 24)]


def test_a_coarse_read_never_shows_a_finer_value(meters: MeterReadingsConnector) -> None:
    constraints = Constraints(date(2025, 12, 1), date(2026, 5, 31), MONTHLY)
    for resource in ("electricity", "water"):
        data = meters.fetch(SubjectRef(MARIA), resource, ALL_FIELDS, constraints)
        assert len(data["consumption"]) == 6
        for record in data["consumption"]:
            local = datetime.fromisoformat(record["start"]).astimezone(SOFIA)
            assert (local.day, local.hour, local.minute) == (1, 0, 0)
            assert set(record) == {"start", "end", UNIT[resource]}
        enforce(meters.describe().resources[resource], ALL_FIELDS, constraints, data)


def test_a_window_without_a_whole_period_has_no_records(meters: MeterReadingsConnector) -> None:
    inside_one_month = Constraints(date(2026, 5, 2), date(2026, 5, 30), MONTHLY)
    before_the_data = Constraints(date(2020, 1, 1), date(2020, 12, 31), DAILY)
    for constraints in (inside_one_month, before_the_data):
        data = meters.fetch(SubjectRef(MARIA), "electricity", ALL_FIELDS, constraints)
        assert data["consumption"] == []
        assert data["total"] is None
        assert data["meter_ids"] == [demo_meter_id("electricity", MARIA)]


def test_readings_end_before_today(meters: MeterReadingsConnector) -> None:
    constraints = Constraints(TODAY - timedelta(days=2), TODAY, DAILY)
    data = meters.fetch(SubjectRef(MARIA), "electricity", ["consumption"], constraints)
    assert [t.date() for t in starts(data["consumption"])] == [
        TODAY - timedelta(days=2),
        TODAY - timedelta(days=1),
    ]


def test_a_person_with_several_meters_gets_their_sum(sql_engine: Engine) -> None:
    meter_readings.create_schema(sql_engine)
    devices, readings = meter_readings.meter_devices, meter_readings.meter_readings
    five_pm = datetime(2026, 6, 1, 14, tzinfo=UTC)
    with sql_engine.begin() as connection:
        connection.execute(
            insert(devices),
            [
                {
                    "meter_id": "EL-2",
                    "national_id": ELENA,
                    "utility": "electricity",
                    "address": "a",
                },
                {
                    "meter_id": "EL-1",
                    "national_id": ELENA,
                    "utility": "electricity",
                    "address": "b",
                },
                {
                    "meter_id": "EL-3",
                    "national_id": MARIA,
                    "utility": "electricity",
                    "address": "c",
                },
                {"meter_id": "WM-1", "national_id": ELENA, "utility": "water", "address": "a"},
            ],
        )
        connection.execute(
            insert(readings),
            [
                {"meter_id": "EL-1", "read_at": five_pm, "value": 0.25},
                {"meter_id": "EL-2", "read_at": five_pm, "value": 0.5},
                {"meter_id": "EL-2", "read_at": five_pm + timedelta(minutes=30), "value": 0.125},
                {"meter_id": "EL-3", "read_at": five_pm, "value": 100},
                {"meter_id": "WM-1", "read_at": five_pm, "value": 7},
            ],
        )
    connector = MeterReadingsConnector(engine=sql_engine)
    data = connector.fetch(
        SubjectRef(ELENA),
        "electricity",
        ALL_FIELDS,
        Constraints(date(2026, 6, 1), date(2026, 6, 1), HOURLY),
    )
    assert data == {
        "consumption": [
            {"start": "2026-06-01T17:00:00+03:00", "end": "2026-06-01T18:00:00+03:00", "kwh": 0.875}
        ],
        "total": 0.875,
        "meter_ids": ["EL-1", "EL-2"],
    }


def test_only_the_fields_asked_for_in_the_order_asked(meters: MeterReadingsConnector) -> None:
    constraints = Constraints(date(2026, 1, 1), date(2026, 1, 31), DAILY)
    data = meters.fetch(SubjectRef(ELENA), "water", ["total", "meter_ids", "total"], constraints)
    assert list(data) == ["total", "meter_ids"]
    assert data["total"] > 0


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [GEORGI, NIKOLA, "0000000000"])
@pytest.mark.parametrize("resource", ["electricity", "water"])
def test_someone_without_a_meter_is_not_found(
    meters: MeterReadingsConnector, who: str, resource: str
) -> None:
    constraints = Constraints(date(2026, 1, 1), date(2026, 1, 31), DAILY)
    with pytest.raises(SubjectNotFound) as raised:
        meters.fetch(SubjectRef(who), resource, ["meter_ids"], constraints)
    assert who not in str(raised.value)


@pytest.mark.parametrize(
    "constraints",
    [
        None,
        Constraints(),
        Constraints(date(2026, 1, 1), None, DAILY),
        Constraints(None, date(2026, 1, 1), DAILY),
        Constraints(date(2026, 1, 1), date(2026, 1, 31)),
        Constraints(date(2026, 2, 1), date(2026, 1, 31), DAILY),
    ],
    ids=["none", "empty", "no end", "no start", "no granularity", "ends before it starts"],
)
def test_a_read_needs_a_date_range_and_a_granularity(
    meters: MeterReadingsConnector, constraints: Constraints | None
) -> None:
    with pytest.raises(ValueError):
        meters.fetch(SubjectRef(MARIA), "electricity", ["consumption"], constraints)


def test_unknown_resources_and_fields_are_refused(meters: MeterReadingsConnector) -> None:
    constraints = Constraints(date(2026, 1, 1), date(2026, 1, 31), DAILY)
    with pytest.raises(SubjectNotFound):
        meters.fetch(SubjectRef(MARIA), "gas", ["consumption"], constraints)
    with pytest.raises(ValueError, match="readings"):
        meters.fetch(SubjectRef(MARIA), "electricity", ["consumption", "readings"], constraints)


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "not a database url",
        "nosuchdatabase://db.example.bg/meters",
        "postgresql+nosuchdriver://meters:s3cr3t@db.example.bg/meters",
    ],
)
def test_a_url_that_cannot_work_names_the_url_setting(url: str | None) -> None:
    with pytest.raises(ConnectorConfigError) as raised:
        MeterReadingsConnector(url)
    assert raised.value.setting == "url"
    assert "s3cr3t" not in str(raised.value)


@pytest.mark.parametrize("timeout", [0, -1, "fast", True, None, 301])
def test_a_timeout_that_cannot_work_names_the_timeout_setting(timeout: Any) -> None:
    with pytest.raises(ConnectorConfigError) as raised:
        MeterReadingsConnector("sqlite://", timeout=timeout)
    assert raised.value.setting == "timeout"


def test_the_registry_builds_it_and_names_bad_settings(tmp_path: Path) -> None:
    spec = ConnectorSpec("meters", "meter_readings", {"timeout": 0})
    with pytest.raises(ConnectorConfigError) as raised:
        instantiate(spec)
    assert raised.value.setting == "connectors.meters.timeout"
    broker_engine = create_engine(f"sqlite:///{tmp_path / 'broker.sqlite3'}")
    try:
        connector = instantiate(ConnectorSpec("meters", "meter_readings", {}), engine=broker_engine)
        assert isinstance(connector, MeterReadingsConnector)
        assert connector.engine is broker_engine
    finally:
        broker_engine.dispose()


def test_a_plain_postgresql_url_uses_the_shipped_driver() -> None:
    connector = MeterReadingsConnector("postgresql://meters@db.example.bg/meters")
    assert connector.engine.dialect.driver == "psycopg"


# -- health and failures ------------------------------------------------------------------------


def test_health_is_ok_on_a_working_database(meters: MeterReadingsConnector) -> None:
    assert meters.health().ok


def test_missing_tables_are_unhealthy_and_unavailable(sql_engine: Engine) -> None:
    connector = MeterReadingsConnector(engine=sql_engine)
    health = connector.health()
    assert not health.ok
    assert health.detail == "missing table(s): meter_devices, meter_readings"
    with pytest.raises(SourceUnavailable):
        connector.fetch(
            SubjectRef(MARIA),
            "water",
            ["total"],
            Constraints(date(2026, 1, 1), date(2026, 1, 2), DAILY),
        )


def test_a_database_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    connector = MeterReadingsConnector(f"sqlite:///{tmp_path / 'gone' / 'meters.sqlite3'}")
    constraints = Constraints(date(2026, 1, 1), date(2026, 1, 31), DAILY)
    with pytest.raises(SourceUnavailable) as raised:
        connector.fetch(SubjectRef(MARIA), "electricity", ALL_FIELDS, constraints)
    assert MARIA not in str(raised.value)
    health = connector.health()
    assert not health.ok
    assert "OperationalError" in health.detail


def test_a_statement_beyond_the_timeout_is_a_timeout(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    connector = MeterReadingsConnector(postgres_url, timeout=1)
    constraints = Constraints(date(2026, 1, 1), date(2026, 1, 31), DAILY)
    try:
        seed(engine)
        with locked(engine, "meter_readings"):
            started = time.monotonic()
            with pytest.raises(SourceTimeout):
                connector.fetch(SubjectRef(MARIA), "electricity", ["consumption"], constraints)
            assert time.monotonic() - started < 1 + 2
        assert connector.fetch(SubjectRef(MARIA), "electricity", ["consumption"], constraints)
    finally:
        connector.engine.dispose()
        engine.dispose()


# -- the demo data ------------------------------------------------------------------------------


def test_databases_without_span_sums_get_the_same_answers(
    meters: MeterReadingsConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Databases other than SQLite and PostgreSQL send the readings themselves to be summed.
    reads = [
        ("electricity", Constraints(date(2026, 3, 1), date(2026, 4, 30), MONTHLY)),
        ("water", Constraints(date(2026, 10, 20), date(2026, 10, 31), DAILY)),
        ("electricity", Constraints(date(2026, 10, 25), date(2026, 10, 26), HOURLY)),
    ]
    summed_by_the_database = [
        meters.fetch(SubjectRef(MARIA), resource, ALL_FIELDS, c) for resource, c in reads
    ]
    monkeypatch.setattr(meter_readings, "_sums_statement", lambda dialect: None)
    for (resource, constraints), expected in zip(reads, summed_by_the_database, strict=True):
        assert meters.fetch(SubjectRef(MARIA), resource, ALL_FIELDS, constraints) == expected
