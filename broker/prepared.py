"""Prepared statements on pooled DBAPI connections, for the few paths on every request.

A SQLAlchemy Core statement is compiled once per dialect into its SQL text, its parameter
order and its columns' result processors; each call then binds values and runs the DBAPI
cursor directly. That skips SQLAlchemy's per-execution machinery (about 60 µs a statement),
which dominated the data read and introspection (see benchmarks/README.md), while the SQL
itself is still written, typed and quoted by SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable

from consent import ledger

if TYPE_CHECKING:
    from broker.db import Database


@dataclass(frozen=True)
class _Compiled:
    sql: str
    defaults: Mapping[str, Any]
    positional: tuple[str, ...] | None
    bind_processors: Mapping[str, Callable[[Any], Any]]
    result_processors: Sequence[Callable[[Any], Any] | None]


class Prepared:
    """One statement, compiled lazily for each dialect it runs on."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is not None:
            return compiled
        sql = self.statement.compile(dialect=dialect)
        bind_processors = {}
        for name, parameter in sql.binds.items():
            processor = parameter.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                bind_processors[name] = processor
        columns = getattr(self.statement, "selected_columns", None)
        if columns is None:
            columns = getattr(self.statement, "_returning", ()) or ()
        result_processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in columns
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

    def execute(self, connection: Any, dialect: Dialect, **params: Any) -> None:
        cursor, _ = self._run(connection, dialect, params)
        cursor.close()

    def scalar(self, connection: Any, dialect: Dialect, **params: Any) -> Any:
        row = self.one_or_none(connection, dialect, **params)
        return row[0] if row is not None else None


_BUMP_HEAD = Prepared(ledger.BUMP_HEAD)
_INSERT_ENTRY = Prepared(ledger.INSERT_ENTRY)


def append_prepared(
    db: Database, event: ledger.LedgerEvent, *, at: datetime, **entry: Any
) -> int:
    """Append a ledger entry in its own queued write transaction (the data read's append).

    The same statements and row as :func:`consent.ledger.append_entry`, run as prepared
    DBAPI statements.
    """
    with db.raw_writing() as connection:
        index: int = _BUMP_HEAD.scalar(connection, db.dialect) - 1
        _INSERT_ENTRY.execute(
            connection, db.dialect, **ledger.entry_row(index, event, at=at, **entry)
        )
    return index
