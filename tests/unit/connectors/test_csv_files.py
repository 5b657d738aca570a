"""The csv_files connector on real files in a temporary directory."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from commons import egn
from connectors.base import (
    BadUpstreamData,
    ConnectorConfigError,
    Sensitivity,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
)
from connectors.contract import ConnectorContract
from connectors.csv_files import CsvFilesConnector
from demo.bankya import demo_options

MARIA = egn.make(date(1988, 3, 14), 471)
GEORGI = egn.make(date(1985, 11, 2), 186)
NIKOLA = egn.make(date(2021, 6, 21), 244)
ELENA = egn.make(date(1951, 9, 30), 593)
PERMITS = "national_id,zone,permit_number,valid_until,vehicle_plate\n"
EXEMPTIONS = "national_id,year,ground,address\n"


def write(path: Path, content: str, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` atomically, as an operator's export job would."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(content, encoding=encoding, newline="")
    os.replace(temporary, path)


def fill(directory: Path) -> None:
    write(
        directory / "parking_permits.csv",
        PERMITS
        + f"{MARIA},Михайлово,БНК-2026-0001,2026-12-31,СВ1234АВ\n"
        + f"{GEORGI},Иваняне,БНК-2026-0002,2026-12-31,СВ5678КМ\n",
    )
    write(
        directory / "waste_fee_exemptions.csv",
        EXEMPTIONS
        + f'{MARIA},2025,Неползван имот,"гр. Банкя, ул. „Витоша“ 3"\n'
        + f'{GEORGI},2026,Неползван имот,"гр. Банкя, ул. „Люляк“ 9"\n'
        + f'{MARIA},2026,Неползван имот,"гр. Банкя, ул. „Витоша“ 3"\n',
    )


@pytest.fixture
def bankya(tmp_path: Path) -> CsvFilesConnector:
    fill(tmp_path)
    return CsvFilesConnector(**demo_options(tmp_path))


# -- reads -------------------------------------------------------------------------------------


def test_fetch_returns_exactly_the_fields_asked(bankya: CsvFilesConnector):
    assert bankya.fetch(SubjectRef(GEORGI), "parking_permits", ["vehicle_plate", "zone"]) == {
        "vehicle_plate": "СВ5678КМ",
        "zone": "Иваняне",
    }
    assert bankya.fetch(SubjectRef(MARIA), "parking_permits", ["permit_number"]) == {
        "permit_number": "БНК-2026-0001"
    }


def test_a_multiple_resource_gives_one_value_per_row_in_file_order(bankya: CsvFilesConnector):
    assert bankya.fetch(SubjectRef(MARIA), "waste_fee_exemptions", ["year", "address"]) == {
        "year": ["2025", "2026"],
        "address": ["гр. Банкя, ул. „Витоша“ 3", "гр. Банкя, ул. „Витоша“ 3"],
    }
    assert bankya.fetch(SubjectRef(GEORGI), "waste_fee_exemptions", ["year"]) == {"year": ["2026"]}


def test_without_multiple_the_first_row_is_the_answer(tmp_path: Path):
    fill(tmp_path)
    write(
        tmp_path / "parking_permits.csv",
        PERMITS
        + f"{MARIA},Михайлово,БНК-2026-0001,2026-12-31,СВ1234АВ\n"
        + f"{MARIA},Клисура,БНК-2026-0009,2027-12-31,СВ9999ХХ\n",
    )
    bankya = CsvFilesConnector(**demo_options(tmp_path))
    assert bankya.fetch(SubjectRef(MARIA), "parking_permits", ["zone"]) == {"zone": "Михайлово"}


def test_spreadsheet_exports_are_read(tmp_path: Path):
    # A byte-order mark, semicolons, columns in another order and an extra one, spaces around
    # cells, an empty cell, a row without a national id and a blank line.
    options = demo_options(tmp_path)
    options["delimiter"] = ";"
    fill(tmp_path)
    write(
        tmp_path / "parking_permits.csv",
        "vehicle_plate ; national_id;notes;zone;valid_until;permit_number\r\n"
        + f" СВ1234АВ ; {MARIA} ;бележка;Михайлово;;БНК-2026-0001\r\n"
        + "\r\n"
        + ";;;Вердикал;2026-12-31;БНК-2026-0003\r\n",
        encoding="utf-8-sig",
    )
    write(
        tmp_path / "waste_fee_exemptions.csv",
        f"national_id;year;ground;address\n{GEORGI};2026;Неползван имот;гр. Банкя, ул. „Люляк“ 9\n",
    )
    bankya = CsvFilesConnector(**options)
    assert bankya.fetch(
        SubjectRef(MARIA), "parking_permits", ["zone", "valid_until", "vehicle_plate"]
    ) == {"zone": "Михайлово", "valid_until": None, "vehicle_plate": "СВ1234АВ"}
    assert bankya.fetch(SubjectRef(GEORGI), "waste_fee_exemptions", ["address"]) == {
        "address": ["гр. Банкя, ул. „Люляк“ 9"]
    }
    assert bankya.health().detail == "2 files, 2 subject rows"


def test_a_field_can_read_a_column_of_another_name(tmp_path: Path):
    options = demo_options(tmp_path)
    options["resources"]["parking_permits"]["key_column"] = "ЕГН"
    options["resources"]["parking_permits"]["fields"]["zone"]["column"] = "Зона"
    fill(tmp_path)
    write(
        tmp_path / "parking_permits.csv",
        "ЕГН,Зона,permit_number,valid_until,vehicle_plate\n"
        + f"{ELENA},Вердикал,БНК-2026-0004,2026-12-31,СВ0001ТТ\n",
    )
    bankya = CsvFilesConnector(**options)
    assert bankya.fetch(SubjectRef(ELENA), "parking_permits", ["zone"]) == {"zone": "Вердикал"}


@pytest.mark.parametrize("resource", ["parking_permits", "waste_fee_exemptions"])
def test_a_subject_without_a_row_is_not_found(bankya: CsvFilesConnector, resource: str):
    fields = list(bankya.describe().resources[resource].fields)
    with pytest.raises(SubjectNotFound) as raised:
        bankya.fetch(SubjectRef(ELENA), resource, fields)
    assert ELENA not in str(raised.value)


def test_unknown_resources_and_fields_are_refused(bankya: CsvFilesConnector):
    with pytest.raises(SubjectNotFound):
        bankya.fetch(SubjectRef(MARIA), "dog_licences", ["name"])
    with pytest.raises(ValueError, match="no field"):
        bankya.fetch(SubjectRef(MARIA), "parking_permits", ["zone", "national_id"])


def test_the_description_comes_from_the_options(bankya: CsvFilesConnector):
    description = bankya.describe()
    assert (description.name, description.label_bg, description.label_en) == (
        "bankya",
        "Район Банкя",
        "Bankya district",
    )
    zone = description.resources["parking_permits"].fields["zone"]
    assert zone.dpv_category == "https://w3id.org/dpv/pd#Location"
    assert zone.sensitivity is Sensitivity.PERSONAL
    assert zone.optional is True
    assert description.resources["parking_permits"].fields["permit_number"].optional is False
    assert bankya.name == "bankya"


# -- files that change -------------------------------------------------------------------------


def test_a_replaced_file_is_read_again(bankya: CsvFilesConnector, tmp_path: Path):
    maria = SubjectRef(MARIA)
    assert bankya.fetch(maria, "parking_permits", ["zone"]) == {"zone": "Михайлово"}
    write(
        tmp_path / "parking_permits.csv",
        PERMITS + f"{MARIA},Клисура,БНК-2026-0001,2026-12-31,СВ1234АВ\n",
    )
    assert bankya.fetch(maria, "parking_permits", ["zone"]) == {"zone": "Клисура"}
    with pytest.raises(SubjectNotFound):
        bankya.fetch(SubjectRef(GEORGI), "parking_permits", ["zone"])


def test_a_file_rewritten_in_place_with_the_same_size_is_read_again(
    bankya: CsvFilesConnector, tmp_path: Path
):
    path = tmp_path / "parking_permits.csv"
    assert bankya.fetch(SubjectRef(MARIA), "parking_permits", ["vehicle_plate"]) == {
        "vehicle_plate": "СВ1234АВ"
    }
    before = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("СВ1234АВ", "СВ4321ВА"), "utf-8")
    # Coarse file-system clocks can give a rewrite the same time; make it visibly later.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert path.stat().st_size == before.st_size
    assert bankya.fetch(SubjectRef(MARIA), "parking_permits", ["vehicle_plate"]) == {
        "vehicle_plate": "СВ4321ВА"
    }


def test_an_unchanged_file_is_not_read_again(bankya: CsvFilesConnector):
    source = bankya._files["parking_permits"]
    assert source.index() is source.index()


def test_readers_see_one_version_or_the_other_while_the_file_is_replaced(
    bankya: CsvFilesConnector, tmp_path: Path
):
    versions = {
        "Михайлово": f"{MARIA},Михайлово,БНК-2026-0001,2026-12-31,СВ1111АА\n",
        "Клисура": f"{MARIA},Клисура,БНК-2026-0002,2027-12-31,СВ2222ВВ\n",
    }
    expected = {
        "Михайлово": ("БНК-2026-0001", "СВ1111АА"),
        "Клисура": ("БНК-2026-0002", "СВ2222ВВ"),
    }
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                row = bankya.fetch(
                    SubjectRef(MARIA), "parking_permits", ["zone", "permit_number", "vehicle_plate"]
                )
            except Exception as exc:
                problems.append(repr(exc))
                return
            if expected.get(row["zone"]) != (row["permit_number"], row["vehicle_plate"]):
                problems.append(f"mixed row {row}")
                return

    write(tmp_path / "parking_permits.csv", PERMITS + versions["Клисура"])
    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for i in range(200):
            write(tmp_path / "parking_permits.csv", PERMITS + list(versions.values())[i % 2])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not problems, problems[:3]


# -- broken files ------------------------------------------------------------------------------


def test_a_header_without_a_configured_column_is_bad_data_and_unhealthy(
    bankya: CsvFilesConnector, tmp_path: Path
):
    write(
        tmp_path / "parking_permits.csv",
        "national_id,permit_number,valid_until,vehicle_plate\n"
        + f"{MARIA},БНК-2026-0001,2026-12-31,СВ1234АВ\n",
    )
    with pytest.raises(BadUpstreamData, match=r"column zone missing in parking_permits\.csv"):
        bankya.fetch(SubjectRef(MARIA), "parking_permits", ["permit_number"])
    health = bankya.health()
    assert not health.ok
    assert health.detail == "column zone missing in parking_permits.csv"
    # The other resource's file is still fine.
    assert bankya.fetch(SubjectRef(MARIA), "waste_fee_exemptions", ["year"])
    fill(tmp_path)
    assert bankya.health().ok


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "parking_permits.csv is empty"),
        (PERMITS + f"{MARIA},Михайлово,БНК-2026-0001,2026-12-31\n", "line 2 of parking_permits"),
        (
            PERMITS + f"{GEORGI},Иваняне,1,2,3\n{MARIA},Михайлово,БНК,2026-12-31,СВ1,extra\n",
            "line 3 of parking_permits.csv has 6 cells, the header 5",
        ),
        (PERMITS.replace("zone", "zone,zone"), "column zone appears twice"),
        (PERMITS + f'{MARIA},"Михайлово,БНК\n', "not valid CSV"),
    ],
)
def test_malformed_files_are_bad_data(
    bankya: CsvFilesConnector, tmp_path: Path, content: str, message: str
):
    write(tmp_path / "parking_permits.csv", content)
    with pytest.raises(BadUpstreamData, match=message) as raised:
        bankya.fetch(SubjectRef(MARIA), "parking_permits", ["zone"])
    assert MARIA not in str(raised.value)
    assert not bankya.health().ok


def test_a_file_that_is_not_utf8_is_bad_data(bankya: CsvFilesConnector, tmp_path: Path):
    (tmp_path / "parking_permits.csv").write_bytes(
        (PERMITS + f"{MARIA},Михайлово,БНК,2026-12-31,СВ1\n").encode("cp1251")
    )
    with pytest.raises(BadUpstreamData, match="not UTF-8"):
        bankya.fetch(SubjectRef(MARIA), "parking_permits", ["zone"])


def test_a_missing_file_is_unavailable_until_it_appears(tmp_path: Path):
    bankya = CsvFilesConnector(**demo_options(tmp_path))
    with pytest.raises(SourceUnavailable, match=r"parking_permits\.csv is missing"):
        bankya.fetch(SubjectRef(MARIA), "parking_permits", ["zone"])
    health = bankya.health()
    assert not health.ok
    assert health.detail == "parking_permits.csv is missing"
    fill(tmp_path)
    assert bankya.fetch(SubjectRef(MARIA), "parking_permits", ["zone"]) == {"zone": "Михайлово"}
    (tmp_path / "parking_permits.csv").unlink()
    with pytest.raises(SourceUnavailable):
        bankya.fetch(SubjectRef(MARIA), "parking_permits", ["zone"])


def test_a_directory_in_place_of_a_file_is_unavailable(tmp_path: Path):
    fill(tmp_path)
    (tmp_path / "parking_permits.csv").unlink()
    (tmp_path / "parking_permits.csv").mkdir()
    bankya = CsvFilesConnector(**demo_options(tmp_path))
    with pytest.raises(SourceUnavailable, match="cannot be read"):
        bankya.fetch(SubjectRef(MARIA), "parking_permits", ["zone"])
    assert not bankya.health().ok


# -- configuration -----------------------------------------------------------------------------

Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Change:
    def change(options: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = options
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _drop(path: str) -> Change:
    def change(options: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = options
        for key in parents:
            target = target[key]
        del target[last]

    return change


ZONE = "resources.parking_permits.fields.zone"


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        (_drop("directory"), "directory"),
        (_set("directory", ""), "directory"),
        (_drop("label_bg"), "label_bg"),
        (_set("label_en", "  "), "label_en"),
        (_set("name", "Bankya"), "name"),
        (_set("delimiter", ";;"), "delimiter"),
        (_drop("resources"), "resources"),
        (_set("resources", {}), "resources"),
        (_set("resources", ["parking_permits"]), "resources"),
        (_set("resources.Parking", {}), "resources.Parking"),
        (_drop("resources.parking_permits.label_en"), "resources.parking_permits.label_en"),
        (_set("resources.parking_permits.file", "../etc/passwd"), "resources.parking_permits.file"),
        (_set("resources.parking_permits.file", ".."), "resources.parking_permits.file"),
        (_set("resources.parking_permits.multiple", "yes"), "resources.parking_permits.multiple"),
        (_set("resources.parking_permits.key_column", ""), "resources.parking_permits.key_column"),
        (_set("resources.parking_permits.colour", "blue"), "resources.parking_permits.colour"),
        (_drop("resources.parking_permits.fields"), "resources.parking_permits.fields"),
        (_set("resources.parking_permits.fields", {}), "resources.parking_permits.fields"),
        (_drop(f"{ZONE}.label_en"), f"{ZONE}.label_en"),
        (_set(f"{ZONE}.label_bg", 5), f"{ZONE}.label_bg"),
        (_drop(f"{ZONE}.dpv"), f"{ZONE}.dpv"),
        (_set(f"{ZONE}.dpv", "https://example.org/zone"), f"{ZONE}.dpv"),
        (_set(f"{ZONE}.sensitivity", "secret"), f"{ZONE}.sensitivity"),
        (_set(f"{ZONE}.optional", 1), f"{ZONE}.optional"),
        (_set(f"{ZONE}.column", ""), f"{ZONE}.column"),
        (_set(f"{ZONE}.dated", True), f"{ZONE}.dated"),
        (_set(f"{ZONE}", "zone"), ZONE),
        (
            _set("resources.parking_permits.fields.Zone-2", {}),
            "resources.parking_permits.fields.Zone-2",
        ),
    ],
)
def test_bad_options_name_the_setting(tmp_path: Path, change: Change, setting: str):
    options = copy.deepcopy(demo_options(tmp_path))
    change(options)
    with pytest.raises(ConnectorConfigError) as raised:
        CsvFilesConnector(**options)
    assert raised.value.setting == setting


def test_the_constructor_reads_no_file(tmp_path: Path):
    # Checking files is health()'s job; a broker starts although a file is not there yet.
    bankya = CsvFilesConnector(**demo_options(tmp_path / "not-yet"))
    assert set(bankya.describe().resources) == {"parking_permits", "waste_fee_exemptions"}


# -- the demo files ----------------------------------------------------------------------------


# -- the contract kit --------------------------------------------------------------------------


class TestCsvFilesContract(ConnectorContract):
    @pytest.fixture
    def connector(self, tmp_path: Path) -> CsvFilesConnector:
        fill(tmp_path)
        return CsvFilesConnector(**demo_options(tmp_path))

    @pytest.fixture
    def subject(self) -> SubjectRef:
        return SubjectRef(MARIA)

    @pytest.fixture
    def other_subject(self) -> SubjectRef:
        return SubjectRef(GEORGI)

    @pytest.fixture
    def unavailable_connector(self, tmp_path: Path) -> CsvFilesConnector:
        return CsvFilesConnector(**demo_options(tmp_path / "gone"))
