"""Prepared statements on pooled DBAPI connections, for SQL sources read on every request.

A SQLAlchemy Core statement is compiled once per dialect into its SQL text, its parameter
order and its columns' result processors; each call then binds values and runs the DBAPI
cursor directly. That skips SQLAlchemy's per-execution machinery (about 60 µs a statement),
which dominated the broker's data read and introspection (see benchmarks/README.md), while
the SQL itself is still written, typed and quoted by SQLAlchemy. SQL-backed connectors use it
for their reads, and the broker for its own hot paths.

The SQL connectors (civil registry, local taxes, meter readings) also share here how they build
an engine from their ``url`` and ``timeout`` options, check a configured table name, turn a
database failure into a typed connector error and check their tables for ``health()``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, create_engine, inspect, select
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from connectors.base import (
    ConnectorConfigError,
    ConnectorError,
    Health,
    SourceTimeout,
    SourceUnavailable,
)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    defaults: Mapping[str, Any]
    positional: tuple[str, ...] | None
    bind_processors: Mapping[str, Callable[[Any], Any]]
    result_processors: Sequence[Callable[[Any], Any] | None]


class Prepared:
    """One statement, compiled lazily for each dialect it runs on."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is not None:
            return compiled
        sql = cast(SQLCompiler, self.statement.compile(dialect=dialect))
        bind_processors = {}
        for name, parameter in sql.binds.items():
            processor = parameter.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                bind_processors[name] = processor
        columns = getattr(self.statement, "selected_columns", None)
        if columns is None:
            columns = getattr(self.statement, "_returning", ()) or ()
        result_processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        compiled = _Compiled(
            sql=str(sql),
            defaults=dict(sql.params),
            positional=tuple(sql.positiontup or ()) if dialect.positional else None,
            bind_processors=bind_processors,
            result_processors=result_processors,
        )
        self._compiled[dialect.name] = compiled
        return compiled

    def _run(self, connection: Any, dialect: Dialect, params: Mapping[str, Any]) -> Any:
        compiled = self._compile(dialect)
        values = {
            name: compiled.bind_processors[name](value)
            if name in compiled.bind_processors
            else value
            for name, value in {**compiled.defaults, **params}.items()
        }
        cursor = connection.cursor()
        if compiled.positional is not None:
            cursor.execute(compiled.sql, tuple(values[name] for name in compiled.positional))
        else:
            cursor.execute(compiled.sql, values)
        return cursor, compiled

    def one_or_none(
        self, connection: Any, dialect: Dialect, **params: Any
    ) -> tuple[Any, ...] | None:
        """Run the statement and return its single row, processed, or None."""
        cursor, compiled = self._run(connection, dialect, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return tuple(
            processor(value) if processor is not None else value
            for processor, value in zip(compiled.result_processors, row, strict=True)
        )

    def execute(self, connection: Any, dialect: Dialect, **params: Any) -> int:
        """Run the statement and return the number of rows it changed."""
        cursor, _ = self._run(connection, dialect, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def scalar(self, connection: Any, dialect: Dialect, **params: Any) -> Any:
        row = self.one_or_none(connection, dialect, **params)
        return row[0] if row is not None else None


# -- engines of SQL sources (shared by the SQL connectors) ---------------------------------------

#: Seconds a SQL connector waits at most by default, and the most it may be configured to wait.
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 300.0
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
#: SQLSTATE query_canceled: PostgreSQL's statement_timeout ran out.
QUERY_CANCELED = "57014"


def sql_source_engine(url: str | None, engine: Engine | None, *, timeout: Any) -> Engine:
    """Return ``engine``, or one for ``url`` with every wait bounded by ``timeout`` seconds.

    No I/O: SQLAlchemy connects on first use. A plain ``postgresql://`` URL uses psycopg 3,
    the driver the broker ships. Errors name the option (``url``, ``timeout``), never the URL
    itself, which may carry a password.
    """
    seconds = timeout_seconds(timeout)
    if engine is not None:
        return engine
    if url is None:
        raise ConnectorConfigError("url", "is required (a SQLAlchemy database URL)")
    if not isinstance(url, str) or not url.strip():
        raise ConnectorConfigError("url", "must be a SQLAlchemy database URL")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConnectorConfigError("url", "is not a database URL SQLAlchemy can parse") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args = {
            "connect_timeout": max(1, math.ceil(seconds)),
            # At least 1 ms: PostgreSQL reads 0 as no limit at all.
            "options": f"-c statement_timeout={max(1, round(seconds * 1000))}",
        }
    elif backend == "sqlite":
        connect_args = {"timeout": seconds}
    pool_options: dict[str, Any] = {"pool_timeout": seconds}
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        pool_options = {}  # one connection per thread: there is no pool to wait for
    try:
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **pool_options)
    except ArgumentError as exc:
        raise ConnectorConfigError(
            "url", f"SQLAlchemy has no dialect or driver {parsed.drivername!r}"
        ) from exc
    except ImportError as exc:
        raise ConnectorConfigError(
            "url", f"the database driver for {parsed.drivername!r} is not installed"
        ) from exc
    except TypeError as exc:  # pool options a pool class does not take, or bad query args
        raise ConnectorConfigError("url", f"cannot build an engine: {exc}") from exc


def timeout_seconds(value: Any) -> float:
    """Check the ``timeout`` option: a number of seconds, more than 0 and at most 300."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConnectorConfigError("timeout", "must be a number of seconds")
    if not 0 < value <= MAX_TIMEOUT:
        raise ConnectorConfigError(
            "timeout", f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds"
        )
    return float(value)


def table_name(setting: str, value: Any) -> str:
    """Check a configured table name: a plain SQL identifier, so it needs no quoting rules."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ConnectorConfigError(
            setting, "must be a table name of letters, digits and _ (not starting with a digit)"
        )
    return value


def driver_error(engine: Engine) -> type[Exception]:
    """The DBAPI's base error: reads on raw connections raise the driver's own errors."""
    dbapi = getattr(engine.dialect, "loaded_dbapi", None)
    error = getattr(dbapi, "Error", None)
    return error if isinstance(error, type) and issubclass(error, Exception) else SQLAlchemyError


def source_failure(exc: BaseException, source: str) -> ConnectorError:
    """The typed error for a database failure; the message holds no statement or value."""
    original = getattr(exc, "orig", exc)
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if state == QUERY_CANCELED:
        return SourceTimeout(f"the {source} database did not answer in time")
    return SourceUnavailable(f"the {source} database did not answer")


def first_line(exc: BaseException) -> str:
    # The driver's own message (a connect failure, a server error): health() runs no statement
    # with a value in it, so no personal data can be in it.
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def check_tables(engine: Engine, tables: Iterable[Table]) -> Health:
    """Connect, and check that every table exists with every column the connector reads."""
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        return Health(False, f"database unreachable: {first_line(exc)}")
    except Exception as exc:  # health() reports; a driver's odd failure must not escape
        return Health(False, f"database unreachable: {type(exc).__name__}")
    try:
        with connection:
            inspector = inspect(connection)
            for table in tables:
                if not inspector.has_table(table.name):
                    return Health(False, f"table {table.name} is missing")
                try:
                    connection.execute(select(*table.c).limit(0)).all()
                except SQLAlchemyError:
                    return Health(False, f"table {table.name} lacks a column the connector reads")
    except Exception as exc:
        return Health(False, f"database check failed: {first_line(exc)}")
    return Health(True)
