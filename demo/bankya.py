"""The demo's Bankya district: a ``csv_files`` source of parking permits and fee exemptions.

:func:`demo_options` are the options of the demo's ``bankya`` instance of
:mod:`connectors.csv_files`; :func:`write_demo_files` writes its CSV files for the demo people.
"""

from __future__ import annotations

import csv
import os
import random
import tempfile
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from demo.local_taxes import DEMO_REFERENCE_DAY, demo_age, demo_vehicle

DPV = "https://w3id.org/dpv/pd#"
_STREETS = ["Цар Симеон", "Витоша", "Банкя", "Люляк", "Горско езеро"]
_ZONES = ["Банкя — център", "Михайлово", "Иваняне", "Клисура", "Вердикал"]


def demo_options(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The options of the demo's ``bankya`` instance, as a connectors file would give them."""

    def described(bg: str, en: str, category: str, **extra: Any) -> dict[str, Any]:
        return {"label_bg": bg, "label_en": en, "dpv": DPV + category, **extra}

    return {
        "directory": str(directory),
        "name": "bankya",
        "label_bg": "Район Банкя",
        "label_en": "Bankya district",
        "resources": {
            "parking_permits": {
                "label_bg": "Разрешения за паркиране на живущи",
                "label_en": "Residents' parking permits",
                "fields": {
                    "zone": described("Зона", "Zone", "Location"),
                    "permit_number": described(
                        "Номер на разрешението", "Permit number", "Identifier", optional=False
                    ),
                    "valid_until": described("Валидно до", "Valid until", "VehicleUsage"),
                    "vehicle_plate": described(
                        "Регистрационен номер", "Registration plate", "VehicleLicense"
                    ),
                },
            },
            "waste_fee_exemptions": {
                "label_bg": "Освобождаване от такса за битови отпадъци",
                "label_en": "Waste collection fee exemptions",
                "multiple": True,
                "fields": {
                    "year": described("Година", "Year", "Tax", optional=False),
                    "ground": described("Основание", "Ground", "Tax"),
                    "address": described("Адрес на имота", "Property address", "PhysicalAddress"),
                },
            },
        },
    }


def write_demo_files(
    directory: str | os.PathLike[str], people: Iterable[Mapping[str, Any]]
) -> None:
    """Write the demo's CSV files for ``people``; the same people give the same bytes.

    Every person with a car (see :func:`demo.local_taxes.demo_vehicle`, so the plate is
    the one the tax office knows) has a parking permit; everyone 70 or older has a waste fee
    exemption for each of the last two years. Files are replaced atomically, so a running
    broker never reads half of one.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    permits: list[list[str]] = []
    exemptions: list[list[str]] = []
    year = DEMO_REFERENCE_DAY.year
    for person in people:
        national_id = person["national_id"]
        car = demo_vehicle(person)
        if car is not None:
            chance = random.Random(f"bankya:{national_id}")  # noqa: S311 - demo data
            permits.append(
                [
                    national_id,
                    chance.choice(_ZONES),
                    f"БНК-{year}-{chance.randrange(1, 10_000):04d}",
                    date(year, 12, 31).isoformat(),
                    car["registration"],
                ]
            )
        if demo_age(person) >= 70:
            # A holiday house in the district, left unused: ЗМДТ чл. 71 waives the fee.
            chance = random.Random(f"bankya-house:{national_id}")  # noqa: S311 - demo data
            house = f"гр. Банкя, ул. „{chance.choice(_STREETS)}“ {chance.randrange(1, 60)}"
            ground = "Имотът не се ползва през годината (чл. 71, т. 1 ЗМДТ)"
            exemptions.extend([national_id, str(y), ground, house] for y in (year - 1, year))
    _write_csv(
        target / "parking_permits.csv",
        ["national_id", "zone", "permit_number", "valid_until", "vehicle_plate"],
        permits,
    )
    _write_csv(
        target / "waste_fee_exemptions.csv",
        ["national_id", "year", "ground", "address"],
        exemptions,
    )


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
