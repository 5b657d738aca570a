"""The civil registry connector on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine
from sqlalchemy.engine import Engine

from commons import egn
from commons.clock import city_zone
from connectors import civil_registry
from connectors.base import (
    Connector,
    ConnectorConfigError,
    SourceTimeout,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
)
from connectors.civil_registry import CivilRegistryConnector, is_minor
from connectors.contract import ConnectorContract
from demo import civil_registry as demo_civil_registry
from tests.unit.connectors.sqldb import BACKENDS, fresh_database_url, locked

MARIA = egn.make(date(1988, 3, 14), 471)
GEORGI = egn.make(date(1985, 11, 2), 186)
NIKOLA = egn.make(date(2021, 6, 21), 244)
ELENA = egn.make(date(1951, 9, 30), 593)
IVAN = egn.make(date(1990, 4, 2), 35)
KALINA = egn.make(date(2019, 12, 5), 528)
LOZENETS = "гр. София, ж.к. Лозенец, ул. Милин камък 12, ап. 4"
MLADOST = "гр. София, ж.к. Младост 1, бл. 27, вх. Б, ап. 31"
RENAMED: dict[str, Any] = {"people_table": "grao_lica", "households_table": "grao_domakinstva"}


def today() -> date:
    return datetime.now(city_zone()).date()


def years_ago(years: int, *, days: int = 0) -> date:
    day = today()
    try:
        anniversary = day.replace(year=day.year - years)
    except ValueError:  # 29 February
        anniversary = day.replace(year=day.year - years, day=28)
    return anniversary + timedelta(days=days)


def person(
    national_id: str, given: str, family: str, born: date, role: str, gender: str = "F"
) -> dict[str, Any]:
    return {
        "national_id": national_id,
        "given_name": given,
        "middle_name": None,
        "family_name": family,
        "birth_date": born,
        "gender": gender,
        "household_role": role,
    }


def petrovi() -> tuple[str, str, list[dict[str, Any]]]:
    return (
        "hh-0001",
        LOZENETS,
        [
            person(MARIA, "Мария", "Петрова", date(1988, 3, 14), "parent"),
            person(GEORGI, "Георги", "Петров", date(1985, 11, 2), "parent", "M"),
            person(NIKOLA, "Никола", "Петров", date(2021, 6, 21), "child", "M"),
        ],
    )


def demo_households() -> list[tuple[str, str, list[dict[str, Any]]]]:
    return [
        petrovi(),
        ("hh-0002", MLADOST, [person(ELENA, "Елена", "Костова", date(1951, 9, 30), "member")]),
    ]


@pytest.fixture
def registry(sql_engine: Engine) -> Iterator[CivilRegistryConnector]:
    demo_civil_registry.seed_demo(sql_engine, demo_households())
    yield CivilRegistryConnector(engine=sql_engine)


# -- reads -------------------------------------------------------------------------------------


def test_person_returns_exactly_the_fields_asked_in_any_order(registry: CivilRegistryConnector):
    maria = SubjectRef(MARIA)
    assert registry.fetch(maria, "person", ["family_name", "given_name"]) == {
        "family_name": "Петрова",
        "given_name": "Мария",
    }
    assert registry.fetch(maria, "person", ["birth_date"]) == {"birth_date": "1988-03-14"}
    everything = registry.fetch(maria, "person", list(civil_registry.PERSON_FIELDS))
    assert everything["address"] == LOZENETS
    assert everything["national_id"] == MARIA
    assert everything["middle_name"] is None


def test_household_lists_members_oldest_first(registry: CivilRegistryConnector):
    household = registry.fetch(SubjectRef(NIKOLA), "household", ["size", "members", "address"])
    assert household["size"] == 3
    assert household["address"] == LOZENETS
    assert [m["given_name"] for m in household["members"]] == ["Георги", "Мария", "Никола"]
    assert household["members"][2] == {
        "given_name": "Никола",
        "family_name": "Петров",
        "birth_date": "2021-06-21",
        "role": "child",
    }


def test_children_of_a_parent_are_the_minors_of_the_household(sql_engine: Engine):
    household_id, address, members = petrovi()
    members += [
        person(egn.make(years_ago(18), 50), "Ива", "Петрова", years_ago(18), "child"),
        person(
            egn.make(years_ago(18, days=1), 62),
            "Боян",
            "Петров",
            years_ago(18, days=1),
            "child",
            "M",
        ),
        person(egn.make(date(2016, 1, 9), 74), "Рая", "Петрова", date(2016, 1, 9), "child"),
    ]
    demo_civil_registry.seed_demo(sql_engine, [(household_id, address, members)])
    registry = CivilRegistryConnector(engine=sql_engine)

    answer = registry.fetch(SubjectRef(GEORGI), "children", ["count", "children"])

    # Ива turns 18 today and is no longer a minor; Боян turns 18 tomorrow.
    assert [child["given_name"] for child in answer["children"]] == ["Боян", "Рая", "Никола"]
    assert answer["count"] == 3
    assert answer["children"][2] == {
        "given_name": "Никола",
        "family_name": "Петров",
        "birth_date": "2021-06-21",
    }
    assert registry.fetch(SubjectRef(MARIA), "children", ["count"]) == {"count": 3}


def test_wards_are_the_minor_children_with_their_national_ids(registry: CivilRegistryConnector):
    answer = registry.fetch(SubjectRef(MARIA), "wards", ["wards"])
    assert answer == {
        "wards": [
            {
                "national_id": NIKOLA,
                "given_name": "Никола",
                "middle_name": None,
                "family_name": "Петров",
                "birth_date": "2021-06-21",
            }
        ]
    }
    assert registry.fetch(SubjectRef(ELENA), "wards", ["wards"]) == {"wards": []}
    with pytest.raises(SubjectNotFound):
        registry.fetch(SubjectRef(IVAN), "wards", ["wards"])


def test_children_of_someone_who_is_not_a_parent_is_an_empty_list(
    registry: CivilRegistryConnector,
):
    for someone in (ELENA, NIKOLA):
        assert registry.fetch(SubjectRef(someone), "children", ["children", "count"]) == {
            "children": [],
            "count": 0,
        }


@pytest.mark.parametrize("resource", ["person", "household", "children", "wards"])
def test_an_unknown_person_is_not_found(registry: CivilRegistryConnector, resource: str):
    fields = list(registry.describe().resources[resource].fields)
    with pytest.raises(SubjectNotFound) as raised:
        registry.fetch(SubjectRef(IVAN), resource, fields)
    assert IVAN not in str(raised.value)


def test_asking_no_field_still_tells_a_known_person_from_an_unknown_one(
    registry: CivilRegistryConnector,
):
    assert registry.fetch(SubjectRef(MARIA), "person", []) == {}
    with pytest.raises(SubjectNotFound):
        registry.fetch(SubjectRef(IVAN), "person", [])


def test_unknown_resources_and_fields_are_refused(registry: CivilRegistryConnector):
    with pytest.raises(SubjectNotFound):
        registry.fetch(SubjectRef(MARIA), "passport", ["number"])
    with pytest.raises(ValueError, match="no field"):
        registry.fetch(SubjectRef(MARIA), "person", ["given_name", "salary"])


@pytest.mark.parametrize(
    ("born", "on", "minor"),
    [
        (date(2008, 5, 10), date(2026, 5, 9), True),
        (date(2008, 5, 10), date(2026, 5, 10), False),
        # Born on 29 February: of age on 28 February of a common year, 29th of a leap year.
        (date(2008, 2, 29), date(2026, 2, 27), True),
        (date(2008, 2, 29), date(2026, 2, 28), False),
        (date(2010, 2, 28), date(2028, 2, 27), True),
        (date(2010, 2, 28), date(2028, 2, 28), False),
        (date(2012, 2, 29), date(2030, 2, 28), False),
    ],
)
def test_coming_of_age(born: date, on: date, minor: bool):
    assert is_minor(born, on) is minor


# -- the city's own table names ----------------------------------------------------------------


def test_the_citys_own_table_names(sql_engine: Engine):
    # Both layouts in one database, with different people, so a statement compiled for one
    # instance's tables would show in the other's answers.
    demo_civil_registry.seed_demo(sql_engine, demo_households())
    civil_registry.create_schema(sql_engine, **RENAMED)
    demo_civil_registry.upsert_household(
        sql_engine,
        "hh-0101",
        MLADOST,
        [
            dict(person(IVAN, "Иван", "Колев", date(1990, 4, 2), "parent", "M"), address=MLADOST),
            dict(person(KALINA, "Калина", "Колева", date(2019, 12, 5), "child"), address=MLADOST),
        ],
        **RENAMED,
    )
    default = CivilRegistryConnector(engine=sql_engine)
    renamed = CivilRegistryConnector(engine=sql_engine, **RENAMED)

    for _ in range(2):  # the second round runs the cached statements
        assert renamed.fetch(SubjectRef(IVAN), "person", ["given_name"]) == {"given_name": "Иван"}
        assert default.fetch(SubjectRef(MARIA), "person", ["given_name"]) == {"given_name": "Мария"}
        with pytest.raises(SubjectNotFound):
            renamed.fetch(SubjectRef(MARIA), "person", ["given_name"])
        with pytest.raises(SubjectNotFound):
            default.fetch(SubjectRef(IVAN), "person", ["given_name"])
    assert renamed.fetch(SubjectRef(IVAN), "household", ["size"]) == {"size": 2}
    assert renamed.fetch(SubjectRef(IVAN), "children", ["count"]) == {"count": 1}
    assert renamed.health().ok and default.health().ok


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("people_table", "people; DROP TABLE x"),
        ("people_table", "1people"),
        ("households_table", ""),
        ("households_table", 7),
        ("households_table", "civil_registry_people"),
        ("timeout", 0),
        ("timeout", "fast"),
        ("timeout", True),
    ],
)
def test_bad_options_name_the_setting(option: str, value: Any):
    with pytest.raises(ConnectorConfigError) as raised:
        CivilRegistryConnector("sqlite://", **{option: value})
    assert raised.value.setting == option


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "not a database url",
        "nosuchdatabase://db.example.bg/registry",
        "postgresql+nosuchdriver://grao:s3cr3t@db.example.bg/registry",
    ],
)
def test_a_url_that_cannot_work_names_the_url_setting(url: str | None):
    with pytest.raises(ConnectorConfigError) as raised:
        CivilRegistryConnector(url)
    assert raised.value.setting == "url"
    assert "s3cr3t" not in str(raised.value)


def test_a_plain_postgresql_url_uses_the_shipped_driver():
    connector = CivilRegistryConnector("postgresql://grao@db.example.bg/registry")
    assert connector.engine.dialect.driver == "psycopg"


# -- health and failures -----------------------------------------------------------------------


def test_health_is_ok_on_a_working_registry(registry: CivilRegistryConnector):
    assert registry.health().ok


def test_health_names_a_missing_table(sql_engine: Engine):
    civil_registry.create_schema(sql_engine)
    connector = CivilRegistryConnector(engine=sql_engine, **RENAMED)
    health = connector.health()
    assert not health.ok
    assert health.detail == "table grao_domakinstva is missing"
    with pytest.raises(SourceUnavailable):
        connector.fetch(SubjectRef(MARIA), "person", ["given_name"])


def test_health_names_a_table_without_the_columns_read(sql_engine: Engine):
    civil_registry.create_schema(sql_engine, people_table="other_people")
    shapeless = MetaData()
    Table("civil_registry_people", shapeless, Column("national_id", String(10), primary_key=True))
    shapeless.create_all(sql_engine)
    health = CivilRegistryConnector(engine=sql_engine).health()
    assert not health.ok
    assert health.detail == "table civil_registry_people lacks a column the connector reads"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("resource", ["person", "household", "children"])
def test_a_database_that_is_down_is_unavailable_within_the_timeout(resource: str):
    connector = CivilRegistryConnector(
        f"postgresql://postgres@127.0.0.1:{closed_port()}/registry", timeout=2
    )
    fields = list(connector.describe().resources[resource].fields)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as raised:
        connector.fetch(SubjectRef(MARIA), resource, fields)
    assert time.monotonic() - started < 2 + 1
    assert MARIA not in str(raised.value)
    health = connector.health()
    assert not health.ok
    assert health.detail.startswith("database unreachable:")


def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path):
    connector = CivilRegistryConnector(f"sqlite:///{tmp_path / 'gone' / 'registry.sqlite3'}")
    with pytest.raises(SourceUnavailable):
        connector.fetch(SubjectRef(MARIA), "person", ["given_name"])
    health = connector.health()
    assert not health.ok
    assert "unable to open database file" in health.detail


@pytest.mark.parametrize(("resource", "field"), [("person", "given_name"), ("children", "count")])
def test_a_statement_beyond_the_timeout_is_a_timeout(postgres_url: str, resource: str, field: str):
    engine = create_engine(postgres_url)
    connector = CivilRegistryConnector(postgres_url, timeout=1)
    try:
        demo_civil_registry.seed_demo(engine, demo_households())
        with locked(engine, "civil_registry_people"):
            started = time.monotonic()
            with pytest.raises(SourceTimeout):
                connector.fetch(SubjectRef(MARIA), resource, [field])
            assert time.monotonic() - started < 1 + 2
        assert field in connector.fetch(SubjectRef(MARIA), resource, [field])
    finally:
        connector.engine.dispose()
        engine.dispose()


# -- the contract kit, on tables with the city's own names --------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def renamed_registry_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    for url in fresh_database_url(request.param, tmp_path_factory.mktemp("registry")):
        engine = create_engine(url)
        try:
            civil_registry.create_schema(engine, **RENAMED)
            for household_id, address, members in [
                *demo_households(),
                (
                    "hh-0003",
                    MLADOST,
                    [
                        person(IVAN, "Иван", "Колев", date(1990, 4, 2), "parent", "M"),
                        person(KALINA, "Калина", "Колева", date(2019, 12, 5), "child"),
                    ],
                ),
            ]:
                demo_civil_registry.upsert_household(
                    engine,
                    household_id,
                    address,
                    [dict(member, address=address) for member in members],
                    **RENAMED,
                )
        finally:
            engine.dispose()
        yield url


class TestCivilRegistryOnRenamedTablesContract(ConnectorContract):
    @pytest.fixture
    def connector(self, renamed_registry_url: str) -> Iterator[CivilRegistryConnector]:
        connector = CivilRegistryConnector(renamed_registry_url, **RENAMED)
        yield connector
        connector.engine.dispose()

    @pytest.fixture
    def subject(self) -> SubjectRef:
        return SubjectRef(MARIA)

    @pytest.fixture
    def other_subject(self) -> SubjectRef:
        return SubjectRef(IVAN)

    @pytest.fixture
    def unavailable_connector(self) -> Iterator[Connector]:
        connector = CivilRegistryConnector(
            f"postgresql://postgres@127.0.0.1:{closed_port()}/registry", timeout=2, **RENAMED
        )
        yield connector
        connector.engine.dispose()
