"""Every demo source read through the data API, and a source that is down."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from broker import create_app
from consent.models import LedgerEntry
from tests.flows import Flow

READS = [
    ("local_taxes", "property_tax", None, "maria"),
    ("local_taxes", "vehicle_tax", None, "georgi"),
    ("meter_readings", "water", None, "elena"),
    ("bankya", "parking_permits", None, "maria"),
    ("bankya", "waste_fee_exemptions", None, "elena"),
    ("social_assistance", "benefits", None, "elena"),
    ("civil_registry", "children", None, "maria"),
]


def _details(connector: str, resource: str, fields: list[str]) -> list[dict[str, Any]]:
    return [{"type": "personal_data", "connector": connector, "resource": resource,
             "fields": fields, "purpose": "energy_poverty_support", "duration": "P30D"}]


def _citizen(demo: dict[str, Any], username: str) -> dict[str, Any]:
    return next(c for c in demo["citizens"] if c["username"] == username)


def _service(demo: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in demo["services"] if s["client_id"] == "energy-support")


@pytest.mark.parametrize(("connector", "resource", "fields", "username"), READS,
                         ids=[f"{c}.{r}" for c, r, _, _ in READS])
def test_each_demo_source_answers_through_the_api(client, broker, demo, connector, resource,
                                                  fields, username):
    description = broker.connectors.catalogue[connector].resources[resource]
    fields = fields or list(description.fields)
    tokens = Flow(client, _service(demo), _citizen(demo, username),
                  details=_details(connector, resource, fields)).tokens()
    response = client.get(f"/api/v1/data/{connector}/{resource}",
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body["data"]) == set(fields)
    assert _citizen(demo, username)["national_id"] not in response.get_data(as_text=True)


def test_the_wallet_names_every_demo_source_in_both_languages(broker):
    for name, source in broker.connectors.catalogue.items():
        assert source.label_bg and source.label_en, name
        for resource in source.resources.values():
            assert all(f.label_bg and f.label_en for f in resource.fields.values())


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_upstream_that_is_down_gets_a_503_and_a_ledger_entry(settings, demo):
    down = replace(settings, sandbox_url=f"http://127.0.0.1:{_closed_port()}")
    application = create_app({"settings": down, "TESTING": True})
    broker = application.extensions["serdika"]
    client = application.test_client()
    try:
        tokens = Flow(client, _service(demo), _citizen(demo, "elena"), details=_details(
            "social_assistance", "benefits", ["heating_allowance_status"])).tokens()
        response = client.get("/api/v1/data/social_assistance/benefits",
                              headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert int(response.headers["Retry-After"]) >= 1
        with broker.db.sessions() as session:
            entries = [json.loads(e) for e in session.scalars(select(LedgerEntry.entry).where(
                LedgerEntry.consent_id == tokens["consent_id"],
                LedgerEntry.event == "data:read_refused"))]
        assert [e["reason"] for e in entries] == ["source:SourceUnavailable"]
    finally:
        broker.db.dispose()
