"""The demo's civil registry: the demo households written into the registry's tables.

The registry's tables are the connector's (:mod:`connectors.civil_registry`); this module writes
what a city's population register would hold for the demo people (:mod:`demo.people`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from connectors.civil_registry import (
    DEFAULT_HOUSEHOLDS_TABLE,
    DEFAULT_PEOPLE_TABLE,
    create_schema,
    registry_tables,
)


def upsert_household(
    engine: Engine,
    household_id: str,
    address: str,
    members: Iterable[Mapping[str, Any]],
    *,
    people_table: str = DEFAULT_PEOPLE_TABLE,
    households_table: str = DEFAULT_HOUSEHOLDS_TABLE,
) -> None:
    """Write one household and its members (demo data); replaces what was there.

    A member is a mapping of the people table's columns but ``household_id``: ``national_id``,
    ``given_name``, ``family_name``, ``birth_date``, ``gender``, ``address``, and optionally
    ``middle_name`` and ``household_role``. Other keys are ignored.
    """
    tables = registry_tables(people_table, households_table)
    columns = set(tables.people.c.keys()) - {"household_id"}
    with engine.begin() as connection:
        connection.execute(
            tables.people.delete().where(tables.people.c.household_id == household_id)
        )
        connection.execute(tables.households.delete().where(tables.households.c.id == household_id))
        connection.execute(tables.households.insert().values(id=household_id, address=address))
        for member in members:
            row = {key: value for key, value in member.items() if key in columns}
            connection.execute(
                tables.people.delete().where(tables.people.c.national_id == row["national_id"])
            )
            connection.execute(tables.people.insert().values(household_id=household_id, **row))


def seed_demo(
    engine: Engine,
    demo_households: Iterable[tuple[str, str, Sequence[Mapping[str, Any]]]],
) -> None:
    """Create the tables and write the demo households; running it again changes nothing.

    ``demo_households`` are ``(household_id, address, members)`` as in demo/people.py; every
    member lives at the household's address.
    """
    create_schema(engine)
    for household_id, address, members in demo_households:
        upsert_household(
            engine, household_id, address, [dict(member, address=address) for member in members]
        )
