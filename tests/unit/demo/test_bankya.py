"""The demo's Bankya district: its CSV files, read through the csv_files connector."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.base import SubjectNotFound, SubjectRef
from connectors.csv_files import CsvFilesConnector
from demo import bankya as demo_bankya
from demo import local_taxes
from demo.bankya import demo_options, write_demo_files
from tests.unit.connectors.test_csv_files import ELENA, GEORGI, MARIA, NIKOLA


def demo_people() -> list[dict[str, Any]]:
    return [
        {"national_id": MARIA, "birth_date": date(1988, 3, 14), "address": "гр. София, ул. А 1"},
        {"national_id": GEORGI, "birth_date": date(1985, 11, 2), "address": "гр. София, ул. А 1"},
        {"national_id": NIKOLA, "birth_date": date(2021, 6, 21), "address": "гр. София, ул. А 1"},
        {"national_id": ELENA, "birth_date": date(1951, 9, 30), "address": "гр. София, ул. Б 2"},
    ]


def test_the_demo_files_serve_the_demo_citizens(tmp_path: Path):
    write_demo_files(tmp_path, demo_people())
    bankya = CsvFilesConnector(**demo_options(tmp_path))
    assert bankya.health().ok
    for who in (MARIA, GEORGI):
        permit = bankya.fetch(SubjectRef(who), "parking_permits", ["vehicle_plate", "zone"])
        car = local_taxes.demo_vehicle(next(p for p in demo_people() if p["national_id"] == who))
        assert car is not None
        assert permit["vehicle_plate"] == car["registration"]
        assert permit["zone"] in demo_bankya._ZONES
    exemptions = bankya.fetch(SubjectRef(ELENA), "waste_fee_exemptions", ["year", "ground"])
    assert exemptions["year"] == ["2025", "2026"]
    for nobody in (NIKOLA, ELENA):
        with pytest.raises(SubjectNotFound):
            bankya.fetch(SubjectRef(nobody), "parking_permits", ["zone"])


def test_the_demo_files_are_the_same_on_every_run(tmp_path: Path):
    write_demo_files(tmp_path / "first", demo_people())
    write_demo_files(tmp_path / "second", demo_people())
    write_demo_files(tmp_path / "second", demo_people())
    for name in ("parking_permits.csv", "waste_fee_exemptions.csv"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "second").iterdir()) == [
        "parking_permits.csv",
        "waste_fee_exemptions.csv",
    ]
