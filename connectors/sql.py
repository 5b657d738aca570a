"""What the SQL connectors share: an engine from their options, errors, health checks.

The SQL connectors (civil registry, local taxes, meter readings) build an engine from their
``url`` and ``timeout`` options, check a configured table name, turn a database failure into a
typed connector error and check their tables for ``health()`` in the same way. Their reads run
as prepared statements (:mod:`commons.prepared`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, create_engine, inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connectors.base import (
    ConnectorConfigError,
    ConnectorError,
    Health,
    SourceTimeout,
    SourceUnavailable,
)

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
