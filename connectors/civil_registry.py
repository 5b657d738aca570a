"""The civil registry: people, households and minor children, read from any SQLAlchemy database.

The registry's own tables are the source of record; the broker only reads them. The demo
creates and fills them (:func:`create_schema`, :mod:`demo.civil_registry`) in the broker's
database by default.

Options (keyword arguments; see docs/connectors.md for the TOML file)::

    url = "postgresql://grao@db.example.bg/registry"   # any SQLAlchemy URL; without it, the
                                                       # broker's own database (``engine``)
    people_table = "civil_registry_people"             # the city's own table names
    households_table = "civil_registry_households"
    timeout = 5.0      # seconds: to connect, to wait for a pooled connection and, on
                       # PostgreSQL, per statement

Resources: ``person``; ``household`` (the subject's household, its address and members);
``children``: the subject's minor children, that is the members of the subject's household
with the role ``child`` who are under 18 on today's date in Sofia, when the subject's role there
is ``parent``. A person the registry knows who is not a parent gets an empty list (the registry
records no minor children of theirs); a person it does not know is :class:`SubjectNotFound`.
``wards``: the same children with their national ids, so that the broker can let a parent act
for them (consent.guardianship); special sensitivity, as it carries other people's ЕГН.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    MetaData,
    String,
    Table,
    bindparam,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from commons import egn
from commons.clock import city_zone
from commons.prepared import Prepared, driver_error
from connectors.base import (
    ConnectorConfigError,
    ConnectorDescription,
    Constraints,
    FieldDescription,
    Health,
    ResourceDescription,
    Sensitivity,
    SubjectNotFound,
    SubjectRef,
    requested_fields,
)
from connectors.sql import (
    DEFAULT_TIMEOUT,
    check_tables,
    source_failure,
    sql_source_engine,
    table_name,
)

DPV = "https://w3id.org/dpv/pd#"
DEFAULT_PEOPLE_TABLE = "civil_registry_people"
DEFAULT_HOUSEHOLDS_TABLE = "civil_registry_households"


# -- the registry's tables ---------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryTables:
    metadata: MetaData
    households: Table
    people: Table


@lru_cache(maxsize=32)
def registry_tables(
    people_table: str = DEFAULT_PEOPLE_TABLE, households_table: str = DEFAULT_HOUSEHOLDS_TABLE
) -> RegistryTables:
    """The registry's tables under the given names (one MetaData per pair of names)."""
    metadata = MetaData()
    households = Table(
        households_table,
        metadata,
        Column("id", String(32), primary_key=True),
        Column("address", String(300), nullable=False),
    )
    people = Table(
        people_table,
        metadata,
        Column("national_id", String(10), primary_key=True),
        Column("given_name", String(100), nullable=False),
        Column("middle_name", String(100)),
        Column("family_name", String(100), nullable=False),
        Column("birth_date", Date, nullable=False),
        Column("gender", String(1), nullable=False),
        Column("address", String(300), nullable=False),
        Column("household_id", ForeignKey(households.c.id), index=True),
        Column("household_role", String(16), nullable=False, server_default="member"),
    )
    return RegistryTables(metadata, households, people)


_default_tables = registry_tables()
metadata = _default_tables.metadata
households = _default_tables.households
people = _default_tables.people


# -- the description ---------------------------------------------------------------------------


def _field(
    name: str, bg: str, en: str, category: str, sensitivity: Sensitivity, optional: bool = True
) -> FieldDescription:
    return FieldDescription(name, bg, en, DPV + category, sensitivity, optional)


def _resource(
    name: str, bg: str, en: str, *fields: FieldDescription, wallet_only: bool = False
) -> ResourceDescription:
    return ResourceDescription(name, bg, en, {f.name: f for f in fields}, wallet_only=wallet_only)


P, S = Sensitivity.PERSONAL, Sensitivity.SPECIAL
#: The columns of a minor child in the ``wards`` resource, in their order.
WARD_COLUMNS = ("national_id", "given_name", "middle_name", "family_name", "birth_date")
DESCRIPTION = ConnectorDescription(
    name="civil_registry",
    label_bg="Гражданска регистрация (ГРАО)",
    label_en="Civil registry (GRAO)",
    resources={
        "person": _resource(
            "person",
            "Лице",
            "Person",
            _field("given_name", "Собствено име", "Given name", "Name", P, False),
            _field("middle_name", "Бащино име", "Middle name", "Name", P),
            _field("family_name", "Фамилно име", "Family name", "Name", P, False),
            _field("birth_date", "Дата на раждане", "Date of birth", "BirthDate", P),
            _field("gender", "Пол", "Sex", "Gender", P),
            _field("national_id", "ЕГН", "Personal number (EGN)", "OfficialID", S),
            _field("address", "Постоянен адрес", "Permanent address", "PhysicalAddress", P),
        ),
        "household": _resource(
            "household",
            "Домакинство",
            "Household",
            _field("address", "Адрес на домакинството", "Household address", "PhysicalAddress", P),
            _field("size", "Брой членове", "Number of members", "HouseholdDemographics", P),
            _field(
                "members",
                "Членове (имена, дати на раждане, роля)",
                "Members (names, dates of birth, role)",
                "FamilyStructure",
                P,
            ),
        ),
        "children": _resource(
            "children",
            "Ненавършили пълнолетие деца",
            "Minor children",
            _field(
                "children",
                "Деца под 18 години (имена, дати на раждане)",
                "Children under 18 (names, dates of birth)",
                "Offspring",
                P,
                False,
            ),
            _field(
                "count",
                "Брой деца под 18 години",
                "Number of children under 18",
                "FamilyStructure",
                P,
            ),
        ),
        "wards": _resource(
            "wards",
            "Ненавършили пълнолетие деца, за които лицето отговаря",
            "Minor children in the person's care",
            _field(
                "wards",
                "Деца под 18 години (ЕГН, имена, дати на раждане)",
                "Children under 18 (personal numbers, names, dates of birth)",
                "Offspring",
                S,
                False,
            ),
            wallet_only=True,
        ),
    },
)
PERSON_FIELDS = tuple(DESCRIPTION.resources["person"].fields)


# -- the connector -----------------------------------------------------------------------------


class CivilRegistryConnector:
    """Reads ``person``, ``household``, ``children`` and ``wards`` keyed by the national id."""

    name = "civil_registry"

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        people_table: str = DEFAULT_PEOPLE_TABLE,
        households_table: str = DEFAULT_HOUSEHOLDS_TABLE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        people_name = table_name("people_table", people_table)
        if table_name("households_table", households_table) == people_name:
            raise ConnectorConfigError("households_table", "must differ from people_table")
        self.tables = registry_tables(people_name, households_table)
        self.engine = sql_source_engine(url, engine, timeout=timeout)
        self._driver_error = driver_error(self.engine)
        # One prepared statement per set of person fields, compiled once per instance (the
        # table names are the instance's own); at most 2**7 sets, so no eviction is needed.
        self._person_statements: dict[tuple[str, ...], Prepared] = {}

    def describe(self) -> ConnectorDescription:
        return DESCRIPTION

    def fetch(
        self,
        subject: SubjectRef,
        resource: str,
        fields: Collection[str],
        constraints: Constraints | None = None,
    ) -> dict[str, Any]:
        _, wanted = requested_fields(DESCRIPTION, resource, fields)
        try:
            if resource == "person":
                return self._person(subject, wanted)
            with self.engine.connect() as connection:
                if resource == "household":
                    return self._household(connection, subject, wanted)
                if resource == "wards":
                    return {"wards": self._minor_children(connection, subject)}
                return self._children(connection, subject, wanted)
        except (SQLAlchemyError, self._driver_error) as exc:
            raise source_failure(exc, "civil registry") from exc

    def health(self) -> Health:
        return check_tables(self.engine, (self.tables.households, self.tables.people))

    def _person(self, subject: SubjectRef, wanted: list[str]) -> dict[str, Any]:
        # The person read is on every data read's path: a prepared statement on a pooled
        # DBAPI connection (connectors/sql.py).
        wanted_set = set(wanted)
        # With no field asked, the read still tells a known person from an unknown one.
        columns = tuple(name for name in PERSON_FIELDS if name in wanted_set) or ("national_id",)
        statement = self._person_statements.get(columns)
        if statement is None:
            people_table = self.tables.people
            statement = Prepared(
                select(*(people_table.c[name] for name in columns)).where(
                    people_table.c.national_id == bindparam("national_id")
                )
            )
            self._person_statements[columns] = statement
        connection = self.engine.raw_connection()
        try:
            row = statement.one_or_none(
                connection, self.engine.dialect, national_id=subject.national_id
            )
        finally:
            connection.close()
        if row is None:
            raise SubjectNotFound("no person with this national id")
        values = dict(zip(columns, row, strict=True))
        return {name: _plain(values[name]) for name in wanted}

    def _household(self, connection: Any, subject: SubjectRef, wanted: list[str]) -> dict[str, Any]:
        people_table, households_table = self.tables.people, self.tables.households
        household_id = connection.execute(
            select(people_table.c.household_id).where(
                people_table.c.national_id == subject.national_id
            )
        ).scalar_one_or_none()
        if household_id is None:
            raise SubjectNotFound("this person is in no household")
        result: dict[str, Any] = {}
        if "address" in wanted:
            result["address"] = connection.execute(
                select(households_table.c.address).where(households_table.c.id == household_id)
            ).scalar_one()
        if "size" in wanted or "members" in wanted:
            members = connection.execute(
                select(
                    people_table.c.given_name,
                    people_table.c.family_name,
                    people_table.c.birth_date,
                    people_table.c.household_role,
                )
                .where(people_table.c.household_id == household_id)
                .order_by(people_table.c.birth_date, people_table.c.national_id)
            ).all()
            if "size" in wanted:
                result["size"] = len(members)
            if "members" in wanted:
                result["members"] = [
                    {"given_name": g, "family_name": f, "birth_date": b.isoformat(), "role": r}
                    for g, f, b, r in members
                ]
        return {name: result[name] for name in wanted}

    def _children(self, connection: Any, subject: SubjectRef, wanted: list[str]) -> dict[str, Any]:
        children = [
            {name: child[name] for name in ("given_name", "family_name", "birth_date")}
            for child in self._minor_children(connection, subject)
        ]
        result = {"children": children, "count": len(children)}
        return {name: result[name] for name in wanted}

    def _minor_children(self, connection: Any, subject: SubjectRef) -> list[dict[str, Any]]:
        """The subject's minor children (:data:`WARD_COLUMNS`), the eldest first."""
        people_table = self.tables.people
        found = connection.execute(
            select(people_table.c.household_id, people_table.c.household_role).where(
                people_table.c.national_id == subject.national_id
            )
        ).one_or_none()
        if found is None:
            raise SubjectNotFound("no person with this national id")
        household_id, role = found
        if household_id is None or role != "parent":
            return []
        today = datetime.now(city_zone()).date()
        rows = connection.execute(
            select(*(people_table.c[name] for name in WARD_COLUMNS))
            .where(
                people_table.c.household_id == household_id,
                people_table.c.household_role == "child",
            )
            .order_by(people_table.c.birth_date, people_table.c.national_id)
        ).all()
        return [
            {name: _plain(value) for name, value in zip(WARD_COLUMNS, row, strict=True)}
            for row in rows
            if is_minor(row.birth_date, today)
        ]


def is_minor(birth_date: date, today: date) -> bool:
    """True before the 18th birthday (:func:`commons.egn.coming_of_age`)."""
    return today < egn.coming_of_age(birth_date)


# -- schema -------------------------------------------------------------------------------------


def create_schema(
    engine: Engine,
    *,
    people_table: str = DEFAULT_PEOPLE_TABLE,
    households_table: str = DEFAULT_HOUSEHOLDS_TABLE,
) -> None:
    """Create the registry's tables if they are missing."""
    registry_tables(people_table, households_table).metadata.create_all(engine)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
