"""Electricity and water meter readings as time series, read from any SQLAlchemy database.

Utilities' smart meters report consumption every few minutes. A service sees it only summed
into whole hours, days or months of the city's calendar, at exactly the granularity the consent
and the read allow: a service consented to monthly totals never sees an hourly value, and no
record straddles the edge of the consented date range.

Options (a ``[connectors.<name>]`` table with ``kind = "meter_readings"``):

``url``
    SQLAlchemy URL of the readings database. Without it, the broker's own database (where the
    demo keeps its sources). A plain ``postgresql://`` URL uses psycopg 3, the driver Serdika
    ships.
``timeout``
    Seconds that connecting, waiting for a pooled connection and (on PostgreSQL) each statement
    may take; default 5. A statement cut off by it is a :class:`SourceTimeout`.

The source's tables (:func:`create_schema` creates them):

``meter_devices(meter_id, national_id, utility, address)``
    A meter and its account holder; ``utility`` is ``electricity`` or ``water``.
``meter_readings(meter_id, read_at, value)``
    One row per metering interval: ``read_at`` is the UTC instant the interval starts, ``value``
    the kWh or m³ consumed during it. Intervals must divide the hour (15 minutes, an hour). The
    primary key ``(meter_id, read_at)`` makes a read one index range scan per meter.

A subject's consumption is the sum over all their meters of the utility.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    MetaData,
    Select,
    String,
    Table,
    bindparam,
    func,
    inspect,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import (
    ConnectorDescription,
    Constraints,
    FieldDescription,
    Granularity,
    Health,
    ResourceDescription,
    SubjectNotFound,
    SubjectRef,
    requested_fields,
)
from connectors.limits import aggregate, period_end, periods, window
from connectors.sql import DEFAULT_TIMEOUT, source_failure, sql_source_engine

DPV = "https://w3id.org/dpv/pd#"

metadata = MetaData()
meter_devices = Table(
    "meter_devices",
    metadata,
    Column("meter_id", String(32), primary_key=True),
    Column("national_id", String(10), nullable=False),
    Column("utility", String(16), nullable=False),
    Column("address", String(300), nullable=False),
    CheckConstraint("utility IN ('electricity', 'water')", name="ck_meter_devices_utility"),
    Index("ix_meter_devices_holder", "national_id", "utility"),
)
meter_readings = Table(
    "meter_readings",
    metadata,
    Column("meter_id", ForeignKey("meter_devices.meter_id"), primary_key=True),
    Column("read_at", DateTime(timezone=True), primary_key=True),
    Column("value", Float, nullable=False),
    CheckConstraint("value >= 0", name="ck_meter_readings_value"),
    # One meter's readings lie together in primary-key order, so a window is one range.
    sqlite_with_rowid=False,
)


@dataclass(frozen=True)
class _Utility:
    name: str
    unit_key: str
    label_bg: str
    label_en: str
    unit: str


UTILITIES = {
    "electricity": _Utility("electricity", "kwh", "Електроенергия", "Electricity", "kWh"),
    "water": _Utility("water", "m3", "Вода", "Water", "m³"),
}
SERIES = (Granularity.HOURLY, Granularity.DAILY, Granularity.MONTHLY)


def _resource(utility: _Utility) -> ResourceDescription:
    lower_bg = utility.label_bg.lower()
    lower_en = utility.label_en.lower()
    fields = (
        FieldDescription(
            "consumption",
            f"Потребление на {lower_bg} ({utility.unit}) по часове, дни или месеци",
            f"{utility.label_en} consumption ({utility.unit}) per hour, day or month",
            DPV + "ServiceConsumptionBehavior",
            optional=False,
            dated=True,
        ),
        FieldDescription(
            "total",
            f"Общо потребление на {lower_bg} за периода ({utility.unit})",
            f"Total {lower_en} consumption over the date range ({utility.unit})",
            DPV + "ServiceConsumptionBehavior",
        ),
        FieldDescription(
            "meter_ids",
            f"Номера на измервателните уреди ({lower_bg})",
            f"Meter numbers ({lower_en})",
            DPV + "DeviceBased",
        ),
    )
    return ResourceDescription(
        utility.name,
        f"{utility.label_bg}: показания на уредите",
        f"{utility.label_en}: meter readings",
        {field.name: field for field in fields},
        granularities=SERIES,
    )


DESCRIPTION = ConnectorDescription(
    name="meter_readings",
    label_bg="Показания на електромери и водомери",
    label_en="Electricity and water meter readings",
    resources={name: _resource(utility) for name, utility in UTILITIES.items()},
)


class MeterReadingsConnector:
    """Reads a subject's ``electricity`` and ``water`` consumption, aggregated as consented."""

    name = "meter_readings"

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.engine = sql_source_engine(url, engine, timeout=timeout)

    def describe(self) -> ConnectorDescription:
        return DESCRIPTION

    def fetch(
        self,
        subject: SubjectRef,
        resource: str,
        fields: Collection[str],
        constraints: Constraints | None = None,
    ) -> dict[str, Any]:
        description, wanted = requested_fields(DESCRIPTION, resource, fields)
        series, granularity = _series_constraints(description, constraints)
        utility = UTILITIES[resource]
        try:
            with self.engine.connect() as connection:
                meters = list(
                    connection.scalars(
                        _meters_statement(),
                        {"national_id": subject.national_id, "utility": utility.name},
                    )
                )
                if not meters:
                    raise SubjectNotFound(f"no {utility.name} meter is registered to this person")
                sums = (
                    _period_sums(connection, meters, series, granularity)
                    if {"consumption", "total"} & set(wanted)
                    else []
                )
        except SQLAlchemyError as exc:
            raise source_failure(exc, "meter readings") from exc
        records = aggregate(sums, granularity, series, value_key=utility.unit_key)
        values: dict[str, Any] = {
            "consumption": records,
            "total": round(sum(r[utility.unit_key] for r in records), 3) if records else None,
            "meter_ids": meters,
        }
        return {name: values[name] for name in wanted}

    def health(self) -> Health:
        try:
            with self.engine.connect() as connection:
                inspector = inspect(connection)
                missing = [
                    t.name for t in metadata.sorted_tables if not inspector.has_table(t.name)
                ]
                if missing:
                    return Health(False, f"missing table(s): {', '.join(missing)}")
                connection.execute(select(meter_readings.c.meter_id).limit(1))
        except SQLAlchemyError as exc:
            return Health(False, f"the database did not answer ({type(exc).__name__})")
        return Health(True)


def _series_constraints(
    resource: ResourceDescription, constraints: Constraints | None
) -> tuple[Constraints, Granularity]:
    if constraints is None or constraints.date_from is None or constraints.date_to is None:
        raise ValueError("dated reads need a resolved date range")
    if constraints.date_from > constraints.date_to:
        raise ValueError("the date range ends before it starts")
    granularity = constraints.granularity
    if granularity is None or granularity not in resource.granularities:
        raise ValueError("a time-series read needs one of the resource's granularities")
    return constraints, granularity


@cache
def _meters_statement() -> Select[str]:
    return (
        select(meter_devices.c.meter_id)
        .where(
            meter_devices.c.national_id == bindparam("national_id"),
            meter_devices.c.utility == bindparam("utility"),
        )
        .order_by(meter_devices.c.meter_id)
    )


def _readings_in(
    start: ColumnElement[Any], end: ColumnElement[Any]
) -> tuple[ColumnElement[bool], ...]:
    return (
        meter_readings.c.meter_id.in_(bindparam("meters", expanding=True)),
        meter_readings.c.read_at >= start,
        meter_readings.c.read_at < end,
    )


@cache
def _sums_statement(dialect: str) -> Select[int, Any] | None:
    """Sum the meters' readings in each ``[first, after)`` span given as a parameter.

    The spans travel as one parameter (JSON on SQLite, two arrays on PostgreSQL), so the SQL
    stays the same whatever the window and is compiled once; each span is one index range
    scan. Answers ``(span index, sum or NULL)`` for every span; None for other databases.
    """
    spans: Any
    if dialect == "sqlite":
        spans = func.json_each(bindparam("spans")).table_valued("key", "value", name="spans")
        index = spans.c.key
        first = func.json_extract(spans.c.value, literal_column("'$[0]'"))
        after = func.json_extract(spans.c.value, literal_column("'$[1]'"))
    elif dialect == "postgresql":
        instants = ARRAY(DateTime(timezone=True))
        spans = (
            func.unnest(bindparam("firsts", type_=instants), bindparam("afters", type_=instants))
            .table_valued("first", "after", with_ordinality="n")
            .render_derived(name="spans")
        )
        # WITH ORDINALITY counts from 1; a literal, so GROUP BY matches the select.
        index, first, after = spans.c.n - literal_column("1"), spans.c.first, spans.c.after
    else:
        return None
    # A correlated subquery, not a join: each span is then an index range scan whatever the
    # planner's statistics say (a join on a freshly filled table was planned as a full scan).
    total = select(func.sum(meter_readings.c.value)).where(*_readings_in(first, after))
    return select(index, total.scalar_subquery()).select_from(spans)


@cache
def _readings_statement() -> Select[datetime, Any]:
    return select(meter_readings.c.read_at, meter_readings.c.value).where(
        *_readings_in(bindparam("start"), bindparam("end"))
    )


def _period_sums(
    connection: Connection, meters: list[str], constraints: Constraints, granularity: Granularity
) -> list[tuple[datetime, float]]:
    """``(period start, consumption)`` for each whole period of the window with readings.

    The database sums each period itself where it can (SQLite, PostgreSQL), so a year of
    15-minute readings comes back as twelve rows for a monthly read; elsewhere the readings
    come back one by one. Either way :func:`connectors.limits.aggregate` makes the records.
    """
    dialect = connection.dialect
    start, end = window(constraints)
    statement = _sums_statement(dialect.name)
    if statement is None:
        # In UTC: a driver may, like SQLite's, keep a date-time's wall clock and drop its offset.
        rows = connection.execute(
            _readings_statement(),
            {"meters": meters, "start": start.astimezone(UTC), "end": end.astimezone(UTC)},
        )
        return [(as_utc(moment), float(value)) for moment, value in rows]
    spans = [
        (first.astimezone(UTC), period_end(first, granularity).astimezone(UTC))
        for first in periods(start, end, granularity)
    ]
    if not spans:
        return []
    parameters: dict[str, Any] = {"meters": meters}
    if dialect.name == "sqlite":
        # Compared as text with the stored values, so written the way SQLAlchemy stores them.
        as_stored = DateTime().dialect_impl(dialect).bind_processor(dialect)
        assert as_stored is not None
        parameters["spans"] = json.dumps([[as_stored(a), as_stored(b)] for a, b in spans])
    else:
        parameters["firsts"] = [first for first, _ in spans]
        parameters["afters"] = [after for _, after in spans]
        # The planner prices each span's index scan at hundreds of rows, so a daily read of a
        # year passes jit_above_cost and spends half a second compiling a 20 ms query.
        connection.exec_driver_sql("SET LOCAL jit = off")
    rows = connection.execute(statement, parameters)
    return [(spans[index][0], float(total)) for index, total in rows if total is not None]


def as_utc(moment: datetime) -> datetime:
    # SQLite, and PostgreSQL's "timestamp without time zone", give naive UTC date-times.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def create_schema(engine: Engine) -> None:
    """Create the readings tables where they are missing."""
    metadata.create_all(engine)
