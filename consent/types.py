"""Shared column types for the domain models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, LargeBinary, String, TypeDecorator
from sqlalchemy.orm import mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite stores no offset, so values are normalised to UTC on the way in and marked UTC on
    the way out; PostgreSQL keeps ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntegerId = BigInteger().with_variant(Integer(), "sqlite")

int_pk = Annotated[int, mapped_column(BigIntegerId, primary_key=True, autoincrement=True)]
str_id = Annotated[str, mapped_column(String(64), primary_key=True)]
timestamp = Annotated[datetime, mapped_column(UTCDateTime())]
json_value = Annotated[Any, mapped_column(JSON())]
digest = Annotated[bytes, mapped_column(LargeBinary(32))]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
