"""The demo agency's JSON API on loopback, and the demo's http_json connector reading it."""

from __future__ import annotations

from datetime import date

import httpx

from connectors.base import Constraints
from connectors.http_json import HttpJsonConnector
from demo.social_assistance import demo_connector_options
from demo.upstream import SocialAssistanceUpstream
from tests.unit.connectors.test_http_json import API_KEY, ELENA, NIKOLA, agency

__all__ = ["agency"]  # a fixture


def test_the_sandbox_wants_its_key_and_knows_only_its_people(
    agency: SocialAssistanceUpstream,
) -> None:
    with httpx.Client(base_url=agency.url) as client:
        path = f"/people/{ELENA.national_id}/benefits"
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
        answer = client.get(
            path, params={"from": "2025-01-01", "to": "2025-12-31"}, headers={"X-API-Key": API_KEY}
        )
        assert answer.status_code == 200
        assert {p["start"] for p in answer.json()["payments"]} == {
            "2025-01-01",
            "2025-02-01",
            "2025-03-01",
            "2025-11-01",
            "2025-12-01",
        }
        unknown = client.get(
            f"/people/{NIKOLA.national_id}/benefits", headers={"X-API-Key": API_KEY}
        )
        assert unknown.status_code == 404
        assert client.get("/health").json() == {"status": "ok"}


def test_the_demo_connector_reads_the_sandbox(agency: SocialAssistanceUpstream) -> None:
    connector = HttpJsonConnector(**demo_connector_options(agency.url, API_KEY))
    try:
        data = connector.fetch(
            ELENA,
            "benefits",
            ["heating_allowance_status", "payments"],
            Constraints(date(2025, 11, 1), date(2026, 3, 31)),
        )
    finally:
        connector.close()
    assert data["heating_allowance_status"] == "granted"
    assert [p["start"] for p in data["payments"]] == [
        "2025-11-01",
        "2025-12-01",
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
    ]
