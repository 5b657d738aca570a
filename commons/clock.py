"""The city's clock: Sofia's time zone, in which citizens read dates and a day begins."""

from __future__ import annotations

from datetime import date
from functools import cache
from zoneinfo import ZoneInfo

#: The city's time zone: consents' date ranges and the wallet's dates are days of its calendar.
CITY_TIMEZONE = "Europe/Sofia"


@cache
def city_zone() -> ZoneInfo:
    """The city's time zone, loaded once."""
    return ZoneInfo(CITY_TIMEZONE)


#: The days a consent or a read may name. Wide enough for any record a city keeps, and far
#: enough from the ends of Python's calendar that a window's next day, next month and its
#: instants in UTC always exist.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)
