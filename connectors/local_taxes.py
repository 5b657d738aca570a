"""The local tax office: property and vehicle tax assessments and balances, from any SQL database.

Sofia's directorate of local taxes and fees (дирекция „Местни данъци и такси“) assesses a yearly
tax on the real estate and on the vehicles a person owns. This connector reads its register:

- ``local_tax_payers``: everyone the office knows (a person it does not know is
  :class:`SubjectNotFound`; a known taxpayer with no vehicle gets empty lists and a zero balance);
- ``local_tax_properties`` and ``local_tax_vehicles``: what each taxpayer owns;
- ``local_tax_assessments``: one row per taxpayer, tax (``property`` or ``vehicle``) and tax year,
  with the amount assessed and the amount paid, in the currency of that year.

Options (keyword arguments)::

    url = "postgresql://taxes@db.example.bg/taxes"   # any SQLAlchemy URL; without it, the
                                                     # broker's own database (``engine``)
    timeout = 5.0    # seconds: to connect, to wait for a pooled connection and, on
                     # PostgreSQL, per statement

Resources ``property_tax`` and ``vehicle_tax``, each with:

- the holdings (``properties``: ``{"address", "kind", "share", "tax_base", "currency"}``;
  ``vehicles``: ``{"registration", "make", "engine_power_kw"}``);
- ``assessments``, dated: one record per tax year, ``{"start": "2025-01-01", "end":
  "2026-01-01", "year", "assessed", "paid", "balance", "currency"}``, only the years wholly
  inside the read's date range, oldest first;
- ``balance``: what is still owed for every year, ``{"amount", "currency": "EUR"}``.

Amounts are JSON numbers with two decimals. Bulgaria pays in euro from 2026; earlier years stay in
leva (``BGN``) in their records, and the balance converts them at the fixed rate of
1.95583 BGN/EUR, as the euro changeover law converts every outstanding obligation.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from commons.prepared import driver_error
from connectors.base import (
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
)

DPV = "https://w3id.org/dpv/pd#"
EURO_SINCE = 2026
BGN_PER_EUR = Decimal("1.95583")
CENT = Decimal("0.01")

metadata = MetaData()
payers = Table(
    "local_tax_payers",
    metadata,
    Column("national_id", String(10), primary_key=True),
)
properties = Table(
    "local_tax_properties",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("national_id", String(10), nullable=False, index=True),
    Column("address", String(300), nullable=False),
    Column("kind", String(32), nullable=False),  # apartment, house, garage, land
    Column("share", String(16), nullable=False, server_default="1/1"),  # ideal parts
    Column("tax_base", Numeric(12, 2), nullable=False),  # данъчна оценка
    Column("currency", String(3), nullable=False),
)
vehicles = Table(
    "local_tax_vehicles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("national_id", String(10), nullable=False, index=True),
    Column("registration", String(16), nullable=False),
    Column("make", String(100), nullable=False),
    Column("engine_power_kw", Integer, nullable=False),
)
assessments = Table(
    "local_tax_assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("national_id", String(10), nullable=False),
    Column("tax", String(16), nullable=False),  # property, vehicle
    Column("year", Integer, nullable=False),
    Column("assessed", Numeric(12, 2), nullable=False),
    Column("paid", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    UniqueConstraint("national_id", "tax", "year", name="uq_local_tax_assessments_year"),
)
Index("ix_local_tax_assessments_subject", assessments.c.national_id, assessments.c.tax)

TAX_OF_RESOURCE = {"property_tax": "property", "vehicle_tax": "vehicle"}
P = Sensitivity.PERSONAL


def _field(
    name: str, bg: str, en: str, category: str, *, optional: bool = True, dated: bool = False
) -> FieldDescription:
    return FieldDescription(name, bg, en, DPV + category, P, optional, dated)


def _resource(name: str, bg: str, en: str, *fields: FieldDescription) -> ResourceDescription:
    return ResourceDescription(name, bg, en, {f.name: f for f in fields})


DESCRIPTION = ConnectorDescription(
    name="local_taxes",
    label_bg="Местни данъци и такси (Столична община)",
    label_en="Local taxes and fees (Sofia Municipality)",
    resources={
        "property_tax": _resource(
            "property_tax",
            "Данък върху недвижимите имоти",
            "Property tax",
            _field(
                "properties",
                "Декларирани имоти (адрес, вид, дял, данъчна оценка)",
                "Declared properties (address, kind, share, tax base)",
                "HouseOwned",
            ),
            _field(
                "assessments",
                "Годишни задължения и плащания",
                "Yearly assessments and payments",
                "Tax",
                dated=True,
            ),
            _field("balance", "Неплатен остатък (EUR)", "Outstanding balance (EUR)", "Tax"),
        ),
        "vehicle_tax": _resource(
            "vehicle_tax",
            "Данък върху превозните средства",
            "Vehicle tax",
            _field(
                "vehicles",
                "Превозни средства (регистрационен номер, марка, мощност)",
                "Vehicles (registration, make, engine power)",
                "CarOwned",
            ),
            _field(
                "assessments",
                "Годишни задължения и плащания",
                "Yearly assessments and payments",
                "Tax",
                dated=True,
            ),
            _field("balance", "Неплатен остатък (EUR)", "Outstanding balance (EUR)", "Tax"),
        ),
    },
)


class LocalTaxesConnector:
    """Reads a taxpayer's property and vehicle tax, keyed by the national id."""

    name = "local_taxes"

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.engine = sql_source_engine(url, engine, timeout=timeout)
        self._driver_error = driver_error(self.engine)

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
        if "assessments" in wanted and (
            constraints is None or constraints.date_from is None or constraints.date_to is None
        ):
            raise ValueError("dated reads need a resolved date range")
        try:
            with self.engine.connect() as connection:
                return self._read(
                    connection, subject, TAX_OF_RESOURCE[resource], wanted, constraints
                )
        except (SQLAlchemyError, self._driver_error) as exc:
            raise source_failure(exc, "local tax office") from exc

    def health(self) -> Health:
        return check_tables(self.engine, (payers, properties, vehicles, assessments))

    def _read(
        self,
        connection: Connection,
        subject: SubjectRef,
        tax: str,
        wanted: list[str],
        constraints: Constraints | None,
    ) -> dict[str, Any]:
        known = connection.execute(
            select(payers.c.national_id).where(payers.c.national_id == subject.national_id)
        ).first()
        if known is None:
            raise SubjectNotFound("the local tax office has no taxpayer with this national id")
        result: dict[str, Any] = {}
        if "properties" in wanted:
            result["properties"] = [
                {
                    "address": address,
                    "kind": kind,
                    "share": share,
                    "tax_base": _amount(tax_base),
                    "currency": currency,
                }
                for address, kind, share, tax_base, currency in connection.execute(
                    select(
                        properties.c.address,
                        properties.c.kind,
                        properties.c.share,
                        properties.c.tax_base,
                        properties.c.currency,
                    )
                    .where(properties.c.national_id == subject.national_id)
                    .order_by(properties.c.id)
                )
            ]
        if "vehicles" in wanted:
            result["vehicles"] = [
                {"registration": registration, "make": make, "engine_power_kw": power}
                for registration, make, power in connection.execute(
                    select(vehicles.c.registration, vehicles.c.make, vehicles.c.engine_power_kw)
                    .where(vehicles.c.national_id == subject.national_id)
                    .order_by(vehicles.c.id)
                )
            ]
        if "assessments" in wanted or "balance" in wanted:
            years = connection.execute(
                select(
                    assessments.c.year,
                    assessments.c.assessed,
                    assessments.c.paid,
                    assessments.c.currency,
                )
                .where(
                    assessments.c.national_id == subject.national_id,
                    assessments.c.tax == tax,
                )
                .order_by(assessments.c.year)
            ).all()
            if "assessments" in wanted:
                assert constraints is not None  # checked in fetch()
                result["assessments"] = [
                    _record(year, assessed, paid, currency)
                    for year, assessed, paid, currency in years
                    if _year_inside(year, constraints)
                ]
            if "balance" in wanted:
                owed = sum(
                    (_in_euro(assessed - paid, currency) for _, assessed, paid, currency in years),
                    Decimal(0),
                )
                result["balance"] = {"amount": _amount(owed), "currency": "EUR"}
        return {name: result[name] for name in wanted}


def _year_inside(year: int, constraints: Constraints) -> bool:
    """A tax year's record lies wholly inside the read's inclusive date range."""
    assert constraints.date_from is not None and constraints.date_to is not None
    return constraints.date_from <= date(year, 1, 1) and date(year, 12, 31) <= constraints.date_to


def _record(year: int, assessed: Decimal, paid: Decimal, currency: str) -> dict[str, Any]:
    return {
        "start": date(year, 1, 1).isoformat(),
        "end": date(year + 1, 1, 1).isoformat(),
        "year": year,
        "assessed": _amount(assessed),
        "paid": _amount(paid),
        "balance": _amount(assessed - paid),
        "currency": currency,
    }


def _in_euro(amount: Decimal, currency: str) -> Decimal:
    if currency == "BGN":
        return (amount / BGN_PER_EUR).quantize(CENT, ROUND_HALF_UP)
    return amount


def _amount(value: Decimal) -> float:
    # A JSON number; two decimals survive the float exactly enough to print as written.
    return float(Decimal(value).quantize(CENT, ROUND_HALF_UP))


# -- schema -------------------------------------------------------------------------------------


def create_schema(engine: Engine) -> None:
    """Create the tax office's tables if they are missing."""
    metadata.create_all(engine)
