"""The demo's meter readings: an electricity and a water meter per household, with readings.

Written into the tables of :mod:`connectors.meter_readings`; the values follow a Sofia-like
daily and yearly profile and depend only on the meter and the instant.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from commons.clock import city_zone
from connectors.limits import day_start
from connectors.meter_readings import UTILITIES, as_utc, meter_devices
from connectors.meter_readings import meter_readings as readings

#: kWh in each local hour of an ordinary day of a three-person flat with district heating.
_ELECTRICITY_PROFILE = (
    0.22, 0.18, 0.16, 0.15, 0.15, 0.18, 0.35, 0.55, 0.45, 0.30, 0.28, 0.30,
    0.35, 0.30, 0.28, 0.30, 0.38, 0.55, 0.75, 0.85, 0.80, 0.65, 0.45, 0.30,
)  # fmt: skip
#: Share of a day's water used in each local hour.
_WATER_PROFILE = (
    0.010, 0.005, 0.005, 0.005, 0.005, 0.015, 0.070, 0.100, 0.075, 0.045, 0.040, 0.040,
    0.045, 0.040, 0.035, 0.035, 0.040, 0.050, 0.070, 0.080, 0.075, 0.065, 0.040, 0.020,
)  # fmt: skip
#: Sofia households use about 100 litres of water a person a day.
_WATER_PER_PERSON = 0.1
_INTERVAL_MINUTES = {"electricity": 15, "water": 60}
ADULT_AGE = 18


def seed_demo(engine: Engine, people: list[dict[str, Any]], *, today: date, days: int = 400) -> int:
    """Give each demo household an electricity and a water meter with ``days`` of readings.

    The meters are the first adult's of each address in ``people`` (a household's account
    holder). Readings cover the ``days`` whole days before ``today`` (electricity every 15
    minutes, water hourly) and depend only on the meter and the instant, so seeding again,
    also on a later day, writes just the days still missing. Returns the readings written.
    """
    first_day = today - timedelta(days=days)
    written = 0
    with engine.begin() as connection:
        known = set(connection.scalars(select(meter_devices.c.meter_id)))
        for holder, household_size in account_holders(people, today):
            for utility in UTILITIES:
                meter_id = demo_meter_id(utility, holder["national_id"])
                if meter_id not in known:
                    connection.execute(
                        meter_devices.insert().values(
                            meter_id=meter_id,
                            national_id=holder["national_id"],
                            utility=utility,
                            address=holder.get("address") or "гр. София",
                        )
                    )
                earliest, latest = connection.execute(
                    select(func.min(readings.c.read_at), func.max(readings.c.read_at)).where(
                        readings.c.meter_id == meter_id
                    )
                ).one()
                held = (as_utc(earliest), as_utc(latest)) if earliest is not None else None
                days_to_write = _days_not_held(first_day, today, held, utility)
                rows = [
                    (meter_id, moment, value)
                    for moment, value in _demo_readings(
                        meter_id, utility, household_size, days_to_write
                    )
                    if held is None or not held[0] <= moment <= held[1]
                ]
                _insert_readings(connection, rows)
                written += len(rows)
    return written


def account_holders(people: list[dict[str, Any]], today: date) -> list[tuple[dict[str, Any], int]]:
    """Each household's account holder (its first adult) and the household's size.

    People without an address are households of their own.
    """
    households: dict[str, list[dict[str, Any]]] = {}
    for person in people:
        households.setdefault(person.get("address") or person["national_id"], []).append(person)
    holders = []
    for members in households.values():
        adult = next((p for p in members if _age(p["birth_date"], today) >= ADULT_AGE), None)
        if adult is not None:
            holders.append((adult, len(members)))
    return holders


def demo_meter_id(utility: str, national_id: str) -> str:
    """The demo meter number of ``national_id``'s ``utility`` meter (stable across seeds)."""
    digits = random.Random(f"{utility}-meter:{national_id}").randrange(10**9, 10**10)  # noqa: S311
    return f"{'EL' if utility == 'electricity' else 'WM'}-{digits}"


def _age(born: date | str, on: date) -> int:
    born = date.fromisoformat(born) if isinstance(born, str) else born
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _days_not_held(
    first_day: date, today: date, held: tuple[datetime, datetime] | None, utility: str
) -> list[date]:
    """The days of ``[first_day, today)`` whose readings are not all within ``held``."""
    interval = timedelta(minutes=_INTERVAL_MINUTES[utility])

    def is_held(day: date) -> bool:
        first = day_start(day).astimezone(UTC)
        last = day_start(day + timedelta(days=1)).astimezone(UTC) - interval
        return held is not None and held[0] <= first and last <= held[1]

    days = (first_day + timedelta(days=n) for n in range((today - first_day).days))
    return [day for day in days if not is_held(day)]


def _insert_readings(connection: Connection, rows: list[tuple[str, datetime, float]]) -> None:
    if not rows:
        return
    if connection.dialect.driver == "psycopg":
        # COPY: ten times faster than psycopg's executemany, which the demo seed waits on.
        driver_connection: Any = connection.connection.driver_connection
        with (
            driver_connection.cursor() as cursor,
            cursor.copy("COPY meter_readings (meter_id, read_at, value) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    connection.execute(
        readings.insert(),
        [{"meter_id": m, "read_at": moment, "value": value} for m, moment, value in rows],
    )


def _demo_readings(
    meter_id: str, utility: str, household_size: int, days: list[date]
) -> Iterator[tuple[datetime, float]]:
    step = timedelta(minutes=_INTERVAL_MINUTES[utility])
    per_hour = timedelta(hours=1) // step
    zone = city_zone()
    for day in days:
        # Seeded by meter and day, so a day's readings are the same whichever seed writes them.
        rng = random.Random(f"{meter_id}:{day.isoformat()}")  # noqa: S311 - demo values
        season = 2 * math.pi * (day.timetuple().tm_yday - 20) / 365.25
        weekend = 1.1 if day.weekday() >= 5 else 1.0
        if utility == "electricity":
            # Winter peak (heaters), a smaller summer one (air conditioning).
            daily = (1 + 0.3 * math.cos(season) + 0.1 * max(0.0, -math.cos(season))) * weekend
            daily *= (0.55 + 0.15 * household_size) * rng.uniform(0.85, 1.15)
        else:
            daily = _WATER_PER_PERSON * household_size * (1 - 0.1 * math.cos(season)) * weekend
            daily *= rng.uniform(0.8, 1.2)
        moment = day_start(day).astimezone(UTC)
        end = day_start(day + timedelta(days=1)).astimezone(UTC)
        while moment < end:
            hour = moment.astimezone(zone).hour
            share = (_ELECTRICITY_PROFILE if utility == "electricity" else _WATER_PROFILE)[hour]
            yield moment, round(daily * share / per_hour * rng.uniform(0.6, 1.4), 3)
            moment += step
