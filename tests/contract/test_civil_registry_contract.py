"""The contract kit against the civil registry, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from commons import egn
from connectors import civil_registry
from connectors.base import Connector, SubjectRef
from connectors.civil_registry import CivilRegistryConnector
from connectors.contract import ConnectorContract
from demo import civil_registry as demo_civil_registry
from tests.conftest import BACKENDS, _postgres_database

MARIA = egn.make(date(1988, 3, 14), 471)
GEORGI = egn.make(date(1985, 11, 2), 186)
NIKOLA = egn.make(date(2021, 6, 21), 244)
IVAN = egn.make(date(1990, 4, 2), 35)
KALINA = egn.make(date(2019, 12, 5), 528)


LOZENETS = "гр. София, ж.к. Лозенец, ул. Милин камък 12, ап. 4"
MLADOST = "гр. София, ж.к. Младост 1, бл. 27, вх. Б, ап. 31"
# Two households, each with a parent and a minor child, so both subjects have data in every
# resource (person, household, children).
HOUSEHOLDS = {
    ("hh-0001", LOZENETS): [
        (MARIA, "Мария", "Иванова", "Петрова", date(1988, 3, 14), "F", "parent"),
        (GEORGI, "Георги", "Стоянов", "Петров", date(1985, 11, 2), "M", "parent"),
        (NIKOLA, "Никола", "Георгиев", "Петров", date(2021, 6, 21), "M", "child"),
    ],
    ("hh-0002", MLADOST): [
        (IVAN, "Иван", "Димитров", "Колев", date(1990, 4, 2), "M", "parent"),
        (KALINA, "Калина", "Иванова", "Колева", date(2019, 12, 5), "F", "child"),
    ],
}
COLUMNS = (
    "national_id",
    "given_name",
    "middle_name",
    "family_name",
    "birth_date",
    "gender",
    "household_role",
)


def _fill(url: str) -> None:
    engine = create_engine(url)
    try:
        civil_registry.create_schema(engine)
        for (household_id, address), people in HOUSEHOLDS.items():
            members = [
                dict(zip(COLUMNS, person, strict=True), address=address) for person in people
            ]
            demo_civil_registry.upsert_household(engine, household_id, address, members)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def registry_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('civil_registry') / 'registry.sqlite3'}"
        _fill(url)
        yield url
    else:
        for url in _postgres_database():
            _fill(url)
            yield url


class TestCivilRegistryContract(ConnectorContract):
    @pytest.fixture
    def connector(self, registry_url: str) -> Iterator[CivilRegistryConnector]:
        connector = CivilRegistryConnector(registry_url)
        yield connector
        connector.engine.dispose()

    @pytest.fixture
    def subject(self) -> SubjectRef:
        return SubjectRef(MARIA)

    @pytest.fixture
    def other_subject(self) -> SubjectRef:
        return SubjectRef(IVAN)

    @pytest.fixture
    def unavailable_connector(self, tmp_path: Path) -> Iterator[Connector]:
        # A database file in a directory that does not exist: SQLite cannot open it.
        connector = CivilRegistryConnector(f"sqlite:///{tmp_path / 'gone' / 'registry.sqlite3'}")
        yield connector
        connector.engine.dispose()
