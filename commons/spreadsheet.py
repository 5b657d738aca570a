"""Cells that a spreadsheet shows as text, never runs as a formula (CSV injection, OWASP)."""

from __future__ import annotations

#: A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value: str) -> str:
    """``value`` as a CSV cell that opens as the same text: a leading quote where it would run."""
    return "'" + value if value.startswith(FORMULA_START) else value
