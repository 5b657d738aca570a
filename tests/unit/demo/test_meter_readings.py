"""The demo's meter readings: each household's meters, plausible and stable readings."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from connectors import meter_readings
from connectors.meter_readings import MeterReadingsConnector
from demo.meter_readings import demo_meter_id
from tests.unit.connectors.test_meter_readings import (
    ELENA,
    FIRST_DAY,
    HOURS_OF_DATA,
    LOZENETS,
    MARIA,
    MLADOST,
    SOFIA,
    TODAY,
    demo_url,
    local_totals,
    meters,
    raw_readings,
    seed,
)

__all__ = ["demo_url", "meters"]  # fixtures


def test_the_demo_gives_each_household_holder_both_meters(meters: MeterReadingsConnector) -> None:
    devices = meter_readings.meter_devices
    with meters.engine.connect() as connection:
        rows = connection.execute(
            select(devices.c.national_id, devices.c.utility, devices.c.address)
        ).all()
    assert sorted(rows) == sorted(
        [
            (MARIA, "electricity", LOZENETS),
            (MARIA, "water", LOZENETS),
            (ELENA, "electricity", MLADOST),
            (ELENA, "water", MLADOST),
        ]
    )


def test_demo_readings_are_plausible_for_sofia(meters: MeterReadingsConnector) -> None:
    for who, household in ((MARIA, 3), (ELENA, 1)):
        electricity = raw_readings(meters.engine, demo_meter_id("electricity", who))
        water = raw_readings(meters.engine, demo_meter_id("water", who))
        # Every 15 minutes and every hour of the 400 days before TODAY, and not one more.
        assert len(electricity) == HOURS_OF_DATA * 4
        assert len(water) == HOURS_OF_DATA
        assert min(m for m, _ in electricity).astimezone(SOFIA).date() == FIRST_DAY
        assert max(m for m, _ in water).astimezone(SOFIA).date() == TODAY - timedelta(days=1)
        assert all(value >= 0 for _, value in electricity + water)
        daily_kwh = local_totals(electricity, lambda t: t.date()).values()
        daily_m3 = local_totals(water, lambda t: t.date()).values()
        assert 2 * household < sum(daily_kwh) / len(daily_kwh) < 6 * household + 4
        assert 0.06 * household < sum(daily_m3) / len(daily_m3) < 0.15 * household


def test_seeding_again_writes_only_the_missing_days(sql_engine: Engine) -> None:
    written = seed(sql_engine, today=date(2026, 6, 10), days=3)
    # Two holders, each with 3 days of electricity (96 a day) and water (24 a day).
    assert written == 2 * 3 * (96 + 24)
    assert seed(sql_engine, today=date(2026, 6, 10), days=3) == 0
    assert seed(sql_engine, today=date(2026, 6, 12), days=5) == 2 * 2 * (96 + 24)
    with sql_engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(meter_readings.meter_readings))
    assert count == 2 * 5 * (96 + 24)


def test_demo_readings_do_not_depend_on_when_they_were_seeded(
    sql_engine: Engine, tmp_path: Path
) -> None:
    seed(sql_engine, today=date(2026, 6, 10), days=3)
    seed(sql_engine, today=date(2026, 6, 12), days=5)
    in_one_go = create_engine(f"sqlite:///{tmp_path / 'once.sqlite3'}")
    try:
        seed(in_one_go, today=date(2026, 6, 12), days=5)
        for utility in ("electricity", "water"):
            meter_id = demo_meter_id(utility, MARIA)
            assert sorted(raw_readings(sql_engine, meter_id)) == sorted(
                raw_readings(in_one_go, meter_id)
            )
    finally:
        in_one_go.dispose()
