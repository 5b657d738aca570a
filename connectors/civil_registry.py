"""The civil registry: people and households, read from any SQLAlchemy database.

The registry's own tables are the source of record; the broker only reads them. The demo seed
creates and fills them (see :func:`create_schema`) in the broker's database by default.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
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
    create_engine,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import (
    ConnectorDescription,
    Constraints,
    FieldDescription,
    Health,
    ResourceDescription,
    Sensitivity,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
)
from connectors.sql import Prepared

DPV = "https://w3id.org/dpv/pd#"

metadata = MetaData()
households = Table(
    "civil_registry_households",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("address", String(300), nullable=False),
)
people = Table(
    "civil_registry_people",
    metadata,
    Column("national_id", String(10), primary_key=True),
    Column("given_name", String(100), nullable=False),
    Column("middle_name", String(100)),
    Column("family_name", String(100), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("gender", String(1), nullable=False),
    Column("address", String(300), nullable=False),
    Column("household_id", ForeignKey("civil_registry_households.id"), index=True),
    Column("household_role", String(16), nullable=False, server_default="member"),
)


def _field(
    name: str, bg: str, en: str, category: str, sensitivity: Sensitivity, optional: bool = True
) -> FieldDescription:
    return FieldDescription(name, bg, en, DPV + category, sensitivity, optional)


P, S = Sensitivity.PERSONAL, Sensitivity.SPECIAL
DESCRIPTION = ConnectorDescription(
    name="civil_registry",
    label_bg="Гражданска регистрация (ГРАО)",
    label_en="Civil registry (GRAO)",
    resources={
        "person": ResourceDescription(
            "person",
            "Лице",
            "Person",
            {
                f.name: f
                for f in (
                    _field("given_name", "Собствено име", "Given name", "Name", P, False),
                    _field("middle_name", "Бащино име", "Middle name", "Name", P),
                    _field("family_name", "Фамилно име", "Family name", "Name", P, False),
                    _field("birth_date", "Дата на раждане", "Date of birth", "BirthDate", P),
                    _field("gender", "Пол", "Sex", "Gender", P),
                    _field("national_id", "ЕГН", "Personal number (EGN)", "OfficialID", S),
                    _field("address", "Постоянен адрес", "Permanent address", "PhysicalAddress", P),
                )
            },
        ),
        "household": ResourceDescription(
            "household",
            "Домакинство",
            "Household",
            {
                f.name: f
                for f in (
                    _field(
                        "address",
                        "Адрес на домакинството",
                        "Household address",
                        "PhysicalAddress",
                        P,
                    ),
                    _field("size", "Брой членове", "Number of members", "HouseholdDemographics", P),
                    _field(
                        "members",
                        "Членове (имена, дати на раждане, роля)",
                        "Members (names, dates of birth, role)",
                        "FamilyStructure",
                        P,
                    ),
                )
            },
        ),
    },
)


class CivilRegistryConnector:
    """Reads ``person`` and ``household`` records keyed by the national id."""

    name = "civil_registry"

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        if engine is None:
            if url is None:
                raise ValueError("civil_registry needs a database 'url'")
            engine = create_engine(url, pool_pre_ping=True)
        self.engine = engine
        # Reads run on raw DBAPI connections too, whose errors are the driver's own.
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    def describe(self) -> ConnectorDescription:
        return DESCRIPTION

    def fetch(
        self,
        subject: SubjectRef,
        resource: str,
        fields: Collection[str],
        constraints: Constraints | None = None,
    ) -> dict[str, Any]:
        wanted = list(dict.fromkeys(fields))
        if resource not in DESCRIPTION.resources:
            raise SubjectNotFound(f"no resource {resource!r}")
        try:
            if resource == "person":
                return self._person(subject, wanted)
            with self.engine.connect() as connection:
                return self._household(connection, subject, wanted)
        except (SQLAlchemyError, self._driver_error) as exc:
            raise SourceUnavailable("the civil registry database did not answer") from exc

    def health(self) -> Health:
        try:
            with self.engine.connect() as connection:
                connection.execute(select(people.c.national_id).limit(1))
        except SQLAlchemyError as exc:
            return Health(False, type(exc).__name__)
        return Health(True)

    def _person(self, subject: SubjectRef, wanted: list[str]) -> dict[str, Any]:
        # The person read is on every data read's path: a prepared statement on a pooled
        # DBAPI connection (connectors/sql.py).
        connection = self.engine.raw_connection()
        try:
            row = _person_statement(tuple(wanted)).one_or_none(
                connection, self.engine.dialect, national_id=subject.national_id
            )
        finally:
            connection.close()
        if row is None:
            raise SubjectNotFound("no person with this national id")
        return {name: _plain(value) for name, value in zip(wanted, row, strict=True)}

    def _household(self, connection: Any, subject: SubjectRef, wanted: list[str]) -> dict[str, Any]:
        household_id = connection.execute(
            select(people.c.household_id).where(people.c.national_id == subject.national_id)
        ).scalar_one_or_none()
        if household_id is None:
            raise SubjectNotFound("this person is in no household")
        result: dict[str, Any] = {}
        if "address" in wanted:
            result["address"] = connection.execute(
                select(households.c.address).where(households.c.id == household_id)
            ).scalar_one()
        if "size" in wanted or "members" in wanted:
            members = connection.execute(
                select(
                    people.c.given_name,
                    people.c.family_name,
                    people.c.birth_date,
                    people.c.household_role,
                )
                .where(people.c.household_id == household_id)
                .order_by(people.c.birth_date)
            ).all()
            if "size" in wanted:
                result["size"] = len(members)
            if "members" in wanted:
                result["members"] = [
                    {"given_name": g, "family_name": f, "birth_date": b.isoformat(), "role": r}
                    for g, f, b, r in members
                ]
        return {name: result[name] for name in wanted}


@lru_cache(maxsize=256)
def _person_statement(fields: tuple[str, ...]) -> Prepared:
    """Build the select of ``fields`` once per field set; reads only bind the id."""
    return Prepared(
        select(*(people.c[name] for name in fields)).where(
            people.c.national_id == bindparam("national_id")
        )
    )


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def upsert_household(
    engine: Engine, household_id: str, address: str, members: list[dict[str, Any]]
) -> None:
    """Write one household and its members (demo data); replaces what was there."""
    with engine.begin() as connection:
        connection.execute(
            text("DELETE FROM civil_registry_people WHERE household_id = :id"),
            {"id": household_id},
        )
        connection.execute(households.delete().where(households.c.id == household_id))
        connection.execute(households.insert().values(id=household_id, address=address))
        for member in members:
            connection.execute(people.delete().where(people.c.national_id == member["national_id"]))
            connection.execute(people.insert().values(household_id=household_id, **member))


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
