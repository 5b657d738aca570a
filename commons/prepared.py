"""Prepared statements on pooled DBAPI connections, for SQL read on every request.

A SQLAlchemy Core statement is compiled once per dialect into its SQL text, its parameter
order and its columns' result processors; each call then binds values and runs the DBAPI
cursor directly. That skips SQLAlchemy's per-execution machinery (about 60 µs a statement),
which dominated the broker's data read and introspection (see benchmarks/README.md), while
the SQL itself is still written, typed and quoted by SQLAlchemy. SQL-backed connectors use it
for their reads, and the broker for its own hot paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


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


def driver_error(engine: Engine) -> type[Exception]:
    """The DBAPI's base error: reads on raw connections raise the driver's own errors."""
    dbapi = getattr(engine.dialect, "loaded_dbapi", None)
    error = getattr(dbapi, "Error", None)
    return error if isinstance(error, type) and issubclass(error, Exception) else SQLAlchemyError
