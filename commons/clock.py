"""The city's clock: Sofia's time zone, in which citizens read dates and a day begins."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo

#: The city's time zone: consents' date ranges and the wallet's dates are days of its calendar.
CITY_TIMEZONE = "Europe/Sofia"


@cache
def city_zone() -> ZoneInfo:
    """The city's time zone, loaded once."""
    return ZoneInfo(CITY_TIMEZONE)
