"""The Bulgarian personal number (ЕГН): validation, its embedded birth date, coming of age."""

from __future__ import annotations

from datetime import date

WEIGHTS = (2, 4, 8, 5, 10, 9, 7, 3, 6)
#: A person comes of age, and answers for themself, on their 18th birthday.
ADULT_AGE = 18


def check_digit(first_nine: str) -> int:
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, WEIGHTS, strict=True))
    remainder = total % 11
    return 0 if remainder == 10 else remainder


def birth_date(egn: str) -> date:
    """Return the birth date encoded in ``egn``; months +20 mean 1800s, +40 mean 2000s."""
    year, month, day = int(egn[0:2]), int(egn[2:4]), int(egn[4:6])
    if month > 40:
        return date(2000 + year, month - 40, day)
    if month > 20:
        return date(1800 + year, month - 20, day)
    return date(1900 + year, month, day)


def is_valid(egn: str) -> bool:
    if len(egn) != 10 or not egn.isascii() or not egn.isdigit():
        return False
    try:
        birth_date(egn)
    except ValueError:
        return False
    return check_digit(egn[:9]) == int(egn[9])


def make(born: date, serial: int) -> str:
    """Build a valid ЕГН for ``born`` with a three-digit region/serial part (odd = female)."""
    if born.year >= 2000:
        month = born.month + 40
    elif born.year < 1900:
        month = born.month + 20
    else:
        month = born.month
    first_nine = f"{born.year % 100:02d}{month:02d}{born.day:02d}{serial % 1000:03d}"
    return first_nine + str(check_digit(first_nine))


def coming_of_age(born: date) -> date:
    """Return the day a person born on ``born`` turns 18; born on 29 February: 28 February.

    Bulgarian law ends a term counted in years on the same day of the month, or on the
    month's last day when it has no such day (Закон за задълженията и договорите, чл. 60).
    """
    year = born.year + ADULT_AGE
    try:
        return born.replace(year=year)
    except ValueError:
        return date(year, 2, 28)
