"""The demo's Social Assistance Agency: its answers for the demo people."""

from __future__ import annotations

from datetime import date

from demo.social_assistance import demo_benefits
from tests.unit.connectors.test_http_json import ELENA, NIKOLA, demo_people


def test_demo_benefits_are_deterministic_and_plausible() -> None:
    today = date(2026, 11, 26)
    answers = demo_benefits(demo_people(), today)

    assert answers == demo_benefits(demo_people(), today)
    assert NIKOLA.national_id not in answers  # a child has no record of its own
    elena = answers[ELENA.national_id]
    assert elena["heating_allowance"]["status"] == "granted"
    assert elena["heating_allowance"]["season"] == "2026/2027"
    months = [p["start"] for p in elena["payments"]]
    assert months[0] == "2024-11-01" and months[-1] == "2026-03-01" and len(months) == 10
    assert all(p["end"] <= today.isoformat() for p in elena["payments"])
    statuses = {a["heating_allowance"]["status"] for a in answers.values()}
    assert len(statuses) > 1
