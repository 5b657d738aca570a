"""Strict forms of the ISO 8601 values clients send: a duration, a calendar day.

The parsers behind them (isodate, ``date.fromisoformat``) are lenient where a request must not
be: isodate takes ``"P1Y\\n"``, and ``fromisoformat`` takes week dates (``2026-W05-1``) and the
basic format (``20260101``). A value is matched here first, then parsed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

#: Whole units only: years, months, weeks, days, then T and hours, minutes, seconds.
DURATION = re.compile(r"P(?!\Z)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?\Z")
#: A calendar day in the extended format: 2026-01-31.
DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


#: The largest id a BIGINT column holds; a cursor past it names nothing.
MAX_ID = 2**63 - 1


def instant(text: str) -> datetime:
    """An ISO 8601 time with its offset (``Z`` or ``±hh:mm``), as UTC; ``ValueError`` if it is
    not one, has no offset, or lies outside the calendar once in UTC (year 1 at +14:00)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} carries no time zone")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{text!r} is outside the calendar") from exc
