"""The auditor's CSV: cells a spreadsheet shows as text, the entry's own text untouched."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from commons.spreadsheet import inert_cell
from consent.ledger.entries import LedgerEvent, entry_row
from consent.ledger.writers import CsvWriter, ExportRow

FORMULAS = ["=HYPERLINK(\"https://evil.example\",\"click\")", "+1+2", "-2+3", "@SUM(A1)",
            "\tTAB", "\rCR"]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_cell_that_would_run_opens_as_the_same_text(value):
    assert inert_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["consent:granted", "kindergartens", "", "2026-05-01T09:00Z",
                                   "a=b", "ab@c"])
def test_ordinary_cells_are_left_alone(value):
    assert inert_cell(value) == value


def test_the_ledger_csv_neutralises_every_cell_but_the_entry(tmp_path):
    row = entry_row(7, LedgerEvent.DATA_READ, at=datetime(2026, 5, 1, 9, tzinfo=UTC),
                    consent_id="=cmd|' /C calc'!A0", service=FORMULAS[0],
                    details={"purpose": "@SUM(1)", "subject": "-1", "fields": ["+x"]})
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.begin()
    writer.write(ExportRow(7, row["entry"], None))
    [written] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written["service"] == "'" + FORMULAS[0]
    assert written["consent"] == "'=cmd|' /C calc'!A0"
    assert written["purpose"] == "'@SUM(1)"
    assert written["subject"] == "'-1"
    assert written["fields"] == "'+x"
    assert written["entry"] == row["entry"]  # verifiable as stored
