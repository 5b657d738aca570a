"""The local tax office connector on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from commons import egn
from connectors import local_taxes
from connectors.base import (
    Connector,
    ConnectorConfigError,
    Constraints,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
)
from connectors.contract import ConnectorContract
from connectors.limits import enforce
from connectors.local_taxes import LocalTaxesConnector
from demo import local_taxes as demo_local_taxes
from tests.unit.connectors.sqldb import BACKENDS, fresh_database_url

MARIA = egn.make(date(1988, 3, 14), 471)
GEORGI = egn.make(date(1985, 11, 2), 186)
NIKOLA = egn.make(date(2021, 6, 21), 244)
ELENA = egn.make(date(1951, 9, 30), 593)
HOME = "гр. София, ж.к. Лозенец, ул. Милин камък 12, ап. 4"
ALL_YEARS = Constraints(date(2021, 1, 1), date(2026, 12, 31))


def people() -> list[dict[str, Any]]:
    """The demo people as demo/seed.py hands them to :func:`demo.local_taxes.seed_demo`."""

    def one(national_id: str, given: str, family: str, born: date, address: str) -> dict[str, Any]:
        return {
            "national_id": national_id,
            "given_name": given,
            "family_name": family,
            "birth_date": born,
            "address": address,
        }

    return [
        one(MARIA, "Мария", "Петрова", date(1988, 3, 14), HOME),
        one(GEORGI, "Георги", "Петров", date(1985, 11, 2), HOME),
        one(NIKOLA, "Никола", "Петров", date(2021, 6, 21), HOME),
        one(ELENA, "Елена", "Костова", date(1951, 9, 30), "гр. София, ж.к. Младост 1, бл. 27"),
    ]


@pytest.fixture
def taxes(sql_engine: Engine) -> LocalTaxesConnector:
    demo_local_taxes.seed_demo(sql_engine, people())
    return LocalTaxesConnector(engine=sql_engine)


def years(records: list[dict[str, Any]]) -> list[int]:
    return [record["year"] for record in records]


# -- reads -------------------------------------------------------------------------------------


def test_fetch_returns_exactly_the_fields_asked(taxes: LocalTaxesConnector):
    maria = SubjectRef(MARIA)
    assert set(taxes.fetch(maria, "property_tax", ["balance"])) == {"balance"}
    answer = taxes.fetch(maria, "vehicle_tax", ["vehicles", "assessments"], ALL_YEARS)
    assert set(answer) == {"vehicles", "assessments"}
    (car,) = answer["vehicles"]
    assert set(car) == {"registration", "make", "engine_power_kw"}
    assert car["registration"].startswith("СВ")
    properties = taxes.fetch(maria, "property_tax", ["properties"])["properties"]
    assert properties == [
        {
            "address": HOME,
            "kind": "apartment",
            "share": "1/2",
            "tax_base": properties[0]["tax_base"],
            "currency": "EUR",
        }
    ]
    assert properties[0]["tax_base"] > 0


def test_assessments_are_one_record_per_tax_year_in_euro(taxes: LocalTaxesConnector):
    records = taxes.fetch(SubjectRef(GEORGI), "property_tax", ["assessments"], ALL_YEARS)[
        "assessments"
    ]
    assert years(records) == [2021, 2022, 2023, 2024, 2025, 2026]
    for record in records:
        assert record["start"] == f"{record['year']}-01-01"
        assert record["end"] == f"{record['year'] + 1}-01-01"
        # The demo register is kept in euro for every year (Bulgaria's currency since 2026).
        assert record["currency"] == "EUR"
        assert record["balance"] == pytest.approx(record["assessed"] - record["paid"])
        assert record["assessed"] > 0


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        # 2022 starts before the window and 2026 ends after it: both straddle an edge.
        (date(2022, 7, 1), date(2026, 6, 30), [2023, 2024, 2025]),
        (date(2023, 1, 1), date(2024, 12, 30), [2023]),
        (date(2023, 1, 2), date(2024, 12, 31), [2024]),
        (date(2024, 2, 1), date(2024, 11, 30), []),
        (date(2025, 1, 1), date(2025, 12, 31), [2025]),
        (date(2019, 1, 1), date(2030, 12, 31), [2021, 2022, 2023, 2024, 2025, 2026]),
    ],
)
def test_the_date_range_keeps_only_years_wholly_inside(
    taxes: LocalTaxesConnector, date_from: date, date_to: date, expected: list[int]
):
    constraints = Constraints(date_from, date_to)
    for resource in ("property_tax", "vehicle_tax"):
        fields = list(taxes.describe().resources[resource].fields)
        answer = taxes.fetch(SubjectRef(MARIA), resource, fields, constraints)
        assert years(answer["assessments"]) == expected
        enforce(taxes.describe().resources[resource], fields, constraints, answer)


def test_a_dated_read_needs_a_date_range_but_plain_fields_do_not(taxes: LocalTaxesConnector):
    with pytest.raises(ValueError, match="date range"):
        taxes.fetch(SubjectRef(MARIA), "property_tax", ["assessments"], None)
    with pytest.raises(ValueError, match="date range"):
        taxes.fetch(SubjectRef(MARIA), "property_tax", ["assessments"], Constraints(date_to=None))
    assert set(taxes.fetch(SubjectRef(MARIA), "vehicle_tax", ["vehicles", "balance"])) == {
        "vehicles",
        "balance",
    }


def test_the_balance_sums_every_year_in_euro(sql_engine: Engine):
    local_taxes.create_schema(sql_engine)
    with sql_engine.begin() as connection:
        connection.execute(local_taxes.payers.insert().values(national_id=ELENA))
        for year, assessed, paid, currency in [
            (2024, "120.00", "120.00", "BGN"),
            (2025, "195.58", "0.00", "BGN"),  # 100.00 EUR at 1.95583
            (2026, "50.00", "20.00", "EUR"),
        ]:
            connection.execute(
                local_taxes.assessments.insert().values(
                    national_id=ELENA,
                    tax="property",
                    year=year,
                    assessed=Decimal(assessed),
                    paid=Decimal(paid),
                    currency=currency,
                )
            )
    taxes = LocalTaxesConnector(engine=sql_engine)
    answer = taxes.fetch(SubjectRef(ELENA), "property_tax", ["balance", "assessments"], ALL_YEARS)
    assert answer["balance"] == {"amount": 130.0, "currency": "EUR"}
    # The balance is what is owed, whatever the window of the records.
    narrow = Constraints(date(2024, 1, 1), date(2024, 12, 31))
    assert taxes.fetch(SubjectRef(ELENA), "property_tax", ["balance"], narrow) == {
        "balance": {"amount": 130.0, "currency": "EUR"}
    }
    assert answer["assessments"][1] == {
        "start": "2025-01-01",
        "end": "2026-01-01",
        "year": 2025,
        "assessed": 195.58,
        "paid": 0.0,
        "balance": 195.58,
        "currency": "BGN",
    }
    # Nothing assessed for vehicles: a known taxpayer without a car owes nothing there.
    assert taxes.fetch(
        SubjectRef(ELENA), "vehicle_tax", ["vehicles", "assessments", "balance"], ALL_YEARS
    ) == {"vehicles": [], "assessments": [], "balance": {"amount": 0.0, "currency": "EUR"}}


def test_a_taxpayer_without_a_car_has_empty_vehicle_tax(taxes: LocalTaxesConnector):
    assert taxes.fetch(
        SubjectRef(ELENA), "vehicle_tax", ["vehicles", "assessments", "balance"], ALL_YEARS
    ) == {"vehicles": [], "assessments": [], "balance": {"amount": 0.0, "currency": "EUR"}}
    assert taxes.fetch(SubjectRef(ELENA), "property_tax", ["properties"])["properties"]


@pytest.mark.parametrize("resource", ["property_tax", "vehicle_tax"])
@pytest.mark.parametrize("someone", [NIKOLA, "0000000000"])
def test_someone_the_tax_office_does_not_know_is_not_found(
    taxes: LocalTaxesConnector, resource: str, someone: str
):
    with pytest.raises(SubjectNotFound) as raised:
        taxes.fetch(SubjectRef(someone), resource, ["balance", "assessments"], ALL_YEARS)
    assert someone not in str(raised.value)


def test_unknown_resources_and_fields_are_refused(taxes: LocalTaxesConnector):
    with pytest.raises(SubjectNotFound):
        taxes.fetch(SubjectRef(MARIA), "dog_tax", ["balance"])
    with pytest.raises(ValueError, match="no field"):
        taxes.fetch(SubjectRef(MARIA), "property_tax", ["vehicles"])


# -- the demo register -------------------------------------------------------------------------


# -- health and failures -----------------------------------------------------------------------


def test_health_is_ok_on_a_working_register(taxes: LocalTaxesConnector):
    assert taxes.health().ok


def test_health_names_a_missing_table(sql_engine: Engine):
    local_taxes.payers.create(sql_engine)
    local_taxes.properties.create(sql_engine)
    health = LocalTaxesConnector(engine=sql_engine).health()
    assert not health.ok
    assert health.detail == "table local_tax_vehicles is missing"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_database_that_is_down_is_unavailable_within_the_timeout():
    taxes = LocalTaxesConnector(f"postgresql://postgres@127.0.0.1:{closed_port()}/taxes", timeout=2)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as raised:
        taxes.fetch(SubjectRef(MARIA), "property_tax", ["assessments", "balance"], ALL_YEARS)
    assert time.monotonic() - started < 2 + 1
    assert MARIA not in str(raised.value)
    health = taxes.health()
    assert not health.ok
    assert health.detail.startswith("database unreachable:")


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({}, "url"),
        ({"url": "taxes.sqlite3"}, "url"),
        ({"url": "oracle+nosuchdriver://tax:s3cr3t@db/taxes"}, "url"),
        ({"url": "sqlite://", "timeout": -1}, "timeout"),
        ({"url": "sqlite://", "timeout": "2s"}, "timeout"),
    ],
)
def test_bad_options_name_the_setting(options: dict[str, Any], setting: str):
    with pytest.raises(ConnectorConfigError) as raised:
        LocalTaxesConnector(**options)
    assert raised.value.setting == setting
    assert "s3cr3t" not in str(raised.value)


# -- the contract kit --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def register_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    for url in fresh_database_url(request.param, tmp_path_factory.mktemp("taxes")):
        engine = create_engine(url)
        try:
            demo_local_taxes.seed_demo(engine, people())
        finally:
            engine.dispose()
        yield url


class TestLocalTaxesContract(ConnectorContract):
    @pytest.fixture
    def connector(self, register_url: str) -> Iterator[LocalTaxesConnector]:
        connector = LocalTaxesConnector(register_url)
        yield connector
        connector.engine.dispose()

    @pytest.fixture
    def subject(self) -> SubjectRef:
        return SubjectRef(MARIA)

    @pytest.fixture
    def other_subject(self) -> SubjectRef:
        return SubjectRef(GEORGI)

    def dated_constraints(self, resource: Any) -> Constraints:
        # The demo register's years are fixed (2021-2026), not relative to today.
        return Constraints(date(2021, 1, 1), date(2025, 12, 31))

    @pytest.fixture
    def unavailable_connector(self) -> Iterator[Connector]:
        connector = LocalTaxesConnector(
            f"postgresql://postgres@127.0.0.1:{closed_port()}/taxes", timeout=2
        )
        yield connector
        connector.engine.dispose()
