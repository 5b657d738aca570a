"""The Bulgarian personal number (ЕГН)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commons import egn

# Worked examples (the weights 2,4,8,5,10,9,7,3,6, sum mod 11, 10 counts as 0).
KNOWN = {
    "7523169263": date(1875, 3, 16),  # month 23: the 1800s
    "8032056031": date(1880, 12, 5),  # month 32
    "7552010005": date(2075, 12, 1),  # month 52: the 2000s
}


def _weighted_sum(nine: str) -> int:
    return sum(int(d) * w for d, w in zip(nine, (2, 4, 8, 5, 10, 9, 7, 3, 6), strict=True))


def _reference_check_digit(nine: str) -> int:
    return _weighted_sum(nine) % 11 % 10


@pytest.mark.parametrize("number,born", list(KNOWN.items()))
def test_known_valid_numbers(number, born):
    assert egn.is_valid(number)
    assert egn.birth_date(number) == born
    assert egn.check_digit(number[:9]) == int(number[9])


def test_remainder_ten_gives_zero():
    candidates = (f"880314{serial:03d}" for serial in range(1000))
    nine = next(n for n in candidates if _weighted_sum(n) % 11 == 10)
    assert egn.check_digit(nine) == 0
    assert egn.is_valid(nine + "0")


def test_month_offsets():
    assert egn.birth_date("0041010000") == date(2000, 1, 1)
    assert egn.birth_date("9921310000") == date(1899, 1, 31)
    assert egn.birth_date("9912310000") == date(1999, 12, 31)
    assert egn.make(date(2021, 6, 21), 244)[2:4] == "46"
    assert egn.make(date(1899, 12, 31), 1)[2:4] == "32"
    assert egn.make(date(1988, 3, 14), 471)[2:4] == "03"


@pytest.mark.parametrize(
    "number",
    [
        "7523169264",  # wrong check digit
        "752316926",  # too short
        "75231692630",  # too long
        "75231692a3",  # not digits
        "７５２３１６９２６３",  # full-width digits
        "７523169263",
        "7513169263",  # month 13
        "7500169263",  # month 0
        "7533169263",  # month 33 (13 in the 1800s)
        "7553169263",  # month 53 (13 in the 2000s)
        "7502309263",  # 30 February
        "0102290000",  # 29 February 1901
        "",
        " 752316926",
    ],
)
def test_invalid_numbers(number):
    assert not egn.is_valid(number)


@given(
    born=st.dates(min_value=date(1800, 1, 1), max_value=date(2099, 12, 31)),
    serial=st.integers(min_value=0, max_value=999),
)
def test_make_round_trips(born, serial):
    number = egn.make(born, serial)
    assert len(number) == 10 and egn.is_valid(number)
    assert egn.birth_date(number) == born
    assert int(number[9]) == _reference_check_digit(number[:9])
    assert number[6:9] == f"{serial:03d}"


@given(number=st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_is_valid_matches_the_reference(number):
    try:
        egn.birth_date(number)
        dated = True
    except ValueError:
        dated = False
    assert egn.is_valid(number) == (dated and int(number[9]) == _reference_check_digit(number[:9]))
