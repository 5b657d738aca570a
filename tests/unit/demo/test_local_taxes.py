"""The demo's local tax office: a deterministic register, read through the connector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from connectors import local_taxes
from connectors.base import SubjectRef
from connectors.local_taxes import LocalTaxesConnector
from demo import local_taxes as demo_local_taxes
from tests.unit.connectors.test_local_taxes import ALL_YEARS, ELENA, GEORGI, MARIA, people, taxes

__all__ = ["taxes"]  # a fixture


def test_the_demo_seed_is_idempotent_and_deterministic(sql_engine: Engine, tmp_path: Path):
    demo_local_taxes.seed_demo(sql_engine, people())
    taxes = LocalTaxesConnector(engine=sql_engine)

    def everything() -> dict[tuple[str, str], Any]:
        return {
            (who, resource): taxes.fetch(
                SubjectRef(who), resource, list(description.fields), ALL_YEARS
            )
            for who in (MARIA, GEORGI, ELENA)
            for resource, description in taxes.describe().resources.items()
        }

    def rows() -> list[int]:
        with sql_engine.connect() as connection:
            return [
                connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in local_taxes.metadata.sorted_tables
            ]

    first, counts = everything(), rows()
    demo_local_taxes.seed_demo(sql_engine, people())
    assert everything() == first
    assert rows() == counts

    # Another database seeded from the same people holds the same register.
    other = create_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    try:
        demo_local_taxes.seed_demo(other, people())
        again = LocalTaxesConnector(engine=other)
        assert {
            (who, resource): again.fetch(SubjectRef(who), resource, list(fields), ALL_YEARS)
            for (who, resource), fields in first.items()
        } == first
    finally:
        other.dispose()


def test_co_owners_declare_the_same_home(taxes: LocalTaxesConnector):
    maria, georgi = (
        taxes.fetch(SubjectRef(who), "property_tax", ["properties"])["properties"]
        for who in (MARIA, GEORGI)
    )
    assert maria == georgi
    assert maria[0]["share"] == "1/2"
