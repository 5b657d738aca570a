"""The demo's local tax office: a register of homes, cars and yearly assessments.

Written into the tables of :mod:`connectors.local_taxes` for the demo people; every value
follows from a person's national id and address, so every run writes the same.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.engine import Connection, Engine

from connectors.local_taxes import (
    BGN_PER_EUR,
    CENT,
    assessments,
    create_schema,
    payers,
    properties,
    vehicles,
)

#: Tax years of the demo register; the last is the first in euro.
DEMO_YEARS = range(2021, 2027)
#: Ages are counted on this day, so the demo data does not change as time passes.
DEMO_REFERENCE_DAY = date(2026, 1, 1)
#: Sofia's property tax: 1.875 per mille of the tax base (Наредба за местните данъци).
PROPERTY_RATE = Decimal("0.001875")
#: The register's currency for every year (the connector converts leva when a register has them).
CURRENCY = "EUR"
_CARS = [
    ("Toyota Yaris", 53),
    ("Renault Clio", 55),
    ("Hyundai i30", 74),
    ("Volkswagen Golf", 81),
    ("Dacia Duster", 84),
    ("Škoda Octavia", 85),
    ("BMW 320d", 110),
]
#: Leva per kW of engine power, by band (up to the limit in kW).
_VEHICLE_RATES = ((37, "0.51"), (55, "0.68"), (74, "0.93"), (110, "1.43"), (10_000, "1.49"))
# Letters of Bulgarian registration plates: the Cyrillic ones that look like Latin letters.
_PLATE_LETTERS = "АВЕКМНОРСТУХ"


def demo_age(person: Mapping[str, Any]) -> int:
    """A demo person's age in whole years on :data:`DEMO_REFERENCE_DAY`."""
    born = person["birth_date"]
    born = born if isinstance(born, date) else date.fromisoformat(str(born))
    day = DEMO_REFERENCE_DAY
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def demo_vehicle(person: Mapping[str, Any]) -> dict[str, Any] | None:
    """The car a demo person owns (adults under 70), the same on every call, or None."""
    if not 18 <= demo_age(person) < 70:
        return None
    chance = random.Random(f"vehicle:{person['national_id']}")  # noqa: S311 - demo data
    make, power = chance.choice(_CARS)
    number = chance.randrange(1000, 10000)
    series = chance.choice(_PLATE_LETTERS) + chance.choice(_PLATE_LETTERS)
    plate = f"СВ{number}{series}"
    return {"registration": plate, "make": make, "engine_power_kw": power}


def _vehicle_tax(power_kw: int) -> Decimal:
    """A Sofia-like yearly tax for a car of ``power_kw``: leva per kW by power band."""
    per_kw = next(rate for limit, rate in _VEHICLE_RATES if power_kw <= limit)
    return _money(Decimal(per_kw) * power_kw)


def _money(amount_bgn: Decimal) -> Decimal:
    """A Sofia-like amount in leva, in euro: the demo register keeps every year in euro
    (Bulgaria's currency since 1 January 2026), earlier years converted at the fixed rate."""
    return (amount_bgn / BGN_PER_EUR).quantize(CENT, ROUND_HALF_UP)


def _paid(chance: random.Random, assessed: Decimal, year: int) -> Decimal:
    """Most years are paid in full; now and then the second instalment is still owed."""
    if year >= DEMO_YEARS[-2] and chance.random() < 0.5:
        return (assessed / 2).quantize(CENT, ROUND_HALF_UP)
    return assessed


def seed_demo(engine: Engine, people: Iterable[Mapping[str, Any]]) -> None:
    """Create the tables and write the demo register for ``people``; idempotent.

    Every adult is a taxpayer who owns an ideal part of their home (shared equally with the
    other adults at the same address) and, under 70, one car. Children are not taxpayers. The
    values follow from the national id and the address alone, so every run writes the same.
    """
    create_schema(engine)
    adults = [person for person in people if demo_age(person) >= 18]
    owners_at: dict[str, int] = {}
    for person in adults:
        owners_at[person["address"]] = owners_at.get(person["address"], 0) + 1
    ids = [person["national_id"] for person in adults]
    with engine.begin() as connection:
        for table in (assessments, vehicles, properties, payers):
            connection.execute(table.delete().where(table.c.national_id.in_(ids)))
        for person in adults:
            _seed_person(connection, person, owners_at[person["address"]])


def _seed_person(connection: Connection, person: Mapping[str, Any], owners: int) -> None:
    national_id = person["national_id"]
    connection.execute(payers.insert().values(national_id=national_id))
    # The home's value depends on the address only, so co-owners declare the same property.
    home = random.Random(f"property:{person['address']}")  # noqa: S311 - demo data
    base_eur = Decimal(home.randrange(38_000, 96_000, 100))
    connection.execute(
        properties.insert().values(
            national_id=national_id,
            address=person["address"],
            kind="apartment",
            share=f"1/{owners}",
            tax_base=base_eur,
            currency=CURRENCY,
        )
    )
    chance = random.Random(f"payments:{national_id}")  # noqa: S311 - demo data
    for year in DEMO_YEARS:
        # Tax bases are revalued now and then; a few per cent a year is close enough here.
        base_bgn = base_eur * BGN_PER_EUR * (1 - Decimal("0.03") * (DEMO_YEARS[-1] - year))
        assessed = _money(base_bgn * PROPERTY_RATE / owners)
        _assessment(connection, national_id, "property", year, assessed, chance)
    car = demo_vehicle(person)
    if car is not None:
        connection.execute(vehicles.insert().values(national_id=national_id, **car))
        for year in DEMO_YEARS:
            assessed = _vehicle_tax(car["engine_power_kw"])
            _assessment(connection, national_id, "vehicle", year, assessed, chance)


def _assessment(
    connection: Connection,
    national_id: str,
    tax: str,
    year: int,
    assessed: Decimal,
    chance: random.Random,
) -> None:
    connection.execute(
        assessments.insert().values(
            national_id=national_id,
            tax=tax,
            year=year,
            assessed=assessed,
            paid=_paid(chance, assessed, year),
            currency=CURRENCY,
        )
    )
