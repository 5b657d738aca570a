"""Consent constraints on the data API: date range, granularity, frequency, the output check."""

from __future__ import annotations

import json
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from broker import create_app
from commons.clock import city_zone
from connectors.base import (
    ConnectorDescription,
    Constraints,
    FieldDescription,
    Granularity,
    Health,
    ResourceDescription,
    SubjectRef,
)
from consent.models import LedgerEntry
from tests.flows import Flow, create_citizen, person_details

ELECTRICITY = "/api/v1/data/meter_readings/electricity"
PERSON = "/api/v1/data/civil_registry/person"


def _meter_details(constraints: dict[str, Any] | None, fields: list[str] | None = None
                   ) -> list[dict[str, Any]]:
    detail: dict[str, Any] = {
        "type": "personal_data", "connector": "meter_readings", "resource": "electricity",
        "fields": fields or ["consumption"], "purpose": "energy_poverty_support",
        "duration": "P30D"}
    if constraints is not None:
        detail["constraints"] = constraints
    return [detail]


def _energy_support(demo: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in demo["services"] if s["client_id"] == "energy-support")


def _tokens(client: Any, demo: dict[str, Any], details: list[dict[str, Any]],
            citizen: dict[str, Any] | None = None) -> dict[str, Any]:
    return Flow(client, _energy_support(demo), citizen or demo["citizens"][0],
                details=details).tokens()


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _refusals(broker: Any, consent_id: str) -> list[str]:
    with broker.db.sessions() as session:
        entries = session.scalars(select(LedgerEntry.entry).where(
            LedgerEntry.consent_id == consent_id, LedgerEntry.event == "data:read_refused"
        ).order_by(LedgerEntry.index))
        return [json.loads(entry)["reason"] for entry in entries]


def _today() -> date:
    return datetime.now(city_zone()).date()


def _spans(records: list[dict[str, Any]]) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"]))
            for r in records]


def test_constraints_travel_in_the_token_response(client, demo):
    constraints = {"date_range": {"from": "2026-01-01"}, "granularity": "monthly",
                   "frequency": {"max_reads": 5, "per": "P1D"}}
    tokens = _tokens(client, demo, _meter_details(constraints))
    assert tokens["authorization_details"][0]["constraints"] == constraints


def test_the_consent_page_says_the_limits_in_plain_words(client, demo):
    flow = Flow(client, _energy_support(demo), demo["citizens"][0], details=_meter_details(
        {"granularity": "monthly", "frequency": {"max_reads": 1, "per": "P1D"}}))
    flow.sign_in()
    client.set_cookie("serdika_lang", "en")
    page = client.get(flow.authorize_query()).get_data(as_text=True)
    assert "Monthly totals only, never daily or hourly values." in page
    assert "At most 1 read every 1 day." in page


def test_a_monthly_consent_never_yields_finer_values(client, broker, demo):
    tokens = _tokens(client, demo, _meter_details({"granularity": "monthly"}))
    response = client.get(ELECTRICITY, headers=_bearer(tokens))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["granularity"] == "monthly"
    records = body["data"]["consumption"]
    assert records, "the demo holds a year of readings"
    for start, end in _spans(records):
        local = start.astimezone(city_zone())
        assert (local.day, local.hour, local.minute) == (1, 0, 0)
        assert 28 <= (end - start).days <= 31

    for finer in ("daily", "hourly"):
        refused = client.get(f"{ELECTRICITY}?granularity={finer}", headers=_bearer(tokens))
        assert refused.status_code == 403
        assert refused.mimetype == "application/problem+json"
        assert refused.get_json()["error"] == "insufficient_scope"
    assert _refusals(broker, tokens["consent_id"]) == ["granularity_too_fine"] * 2


def test_a_date_range_bounds_every_read(client, broker, demo):
    today = _today()
    granted_from, granted_to = today - timedelta(days=60), today - timedelta(days=10)
    tokens = _tokens(client, demo, _meter_details(
        {"date_range": {"from": granted_from.isoformat(), "to": granted_to.isoformat()},
         "granularity": "daily"}))
    headers = _bearer(tokens)

    body = client.get(ELECTRICITY, headers=headers).get_json()
    assert (body["from"], body["to"]) == (granted_from.isoformat(), granted_to.isoformat())
    starts = [start.astimezone(city_zone()).date() for start, _ in
              _spans(body["data"]["consumption"])]
    assert starts[0] == granted_from and starts[-1] == granted_to
    assert len(starts) == (granted_to - granted_from).days + 1

    narrower = client.get(f"{ELECTRICITY}?from={(granted_to - timedelta(days=2)).isoformat()}",
                          headers=headers).get_json()
    assert len(narrower["data"]["consumption"]) == 3

    too_early = client.get(f"{ELECTRICITY}?from={(granted_from - timedelta(days=1))}",
                           headers=headers)
    too_late = client.get(f"{ELECTRICITY}?to={today.isoformat()}", headers=headers)
    assert too_early.status_code == too_late.status_code == 403
    assert "consent covers dates" in too_early.get_json()["detail"]
    assert _refusals(broker, tokens["consent_id"]) == ["outside_date_range"] * 2


@pytest.mark.parametrize("query", ["from=2026-1-1", "granularity=weekly", "to=yesterday",
                                   "from=2026-05-02&to=2026-05-01"])
def test_malformed_read_parameters_get_a_400_and_record_nothing(client, broker, demo, query):
    tokens = _tokens(client, demo, _meter_details(None))
    response = client.get(f"{ELECTRICITY}?{query}", headers=_bearer(tokens))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert _refusals(broker, tokens["consent_id"]) == []


def test_dates_on_a_resource_without_dated_records_are_a_400(client, demo):
    tokens = Flow(client, demo["services"][0], demo["citizens"][0]).tokens()
    response = client.get(f"{PERSON}?from=2026-01-01", headers=_bearer(tokens))
    assert response.status_code == 400


def test_a_frequency_limit_refuses_the_extra_read_with_retry_after(client, broker, demo):
    tokens = _tokens(client, demo, _meter_details(
        {"granularity": "monthly", "frequency": {"max_reads": 1, "per": "P1D"}}))
    assert client.get(ELECTRICITY, headers=_bearer(tokens)).status_code == 200
    second = client.get(ELECTRICITY, headers=_bearer(tokens))
    assert second.status_code == 429
    assert second.get_json()["error"] == "too_many_reads"
    assert 86000 <= int(second.headers["Retry-After"]) <= 86400
    assert _refusals(broker, tokens["consent_id"]) == ["frequency_exceeded"]


def test_the_frequency_is_counted_per_consent_not_per_token(client, demo):
    flow = Flow(client, _energy_support(demo), demo["citizens"][0], details=_meter_details(
        {"frequency": {"max_reads": 1, "per": "P1D"}}))
    tokens = flow.tokens()
    assert client.get(ELECTRICITY, headers=_bearer(tokens)).status_code == 200
    refreshed = client.post("/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=_basic(flow.service)).get_json()
    assert client.get(ELECTRICITY, headers=_bearer(refreshed)).status_code == 429


def _basic(service: dict[str, Any]) -> dict[str, str]:
    from tests.flows import basic

    return basic(service["client_id"], service["client_secret"])


def test_concurrent_reads_never_exceed_the_frequency(app, demo):
    client = app.test_client()
    tokens = _tokens(client, demo, _meter_details(
        {"granularity": "monthly", "frequency": {"max_reads": 3, "per": "P1D"}}))

    def read(_: int) -> int:
        return app.test_client().get(ELECTRICITY, headers=_bearer(tokens)).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(read, range(10)))
    assert statuses == [200] * 3 + [429] * 7


def test_a_failed_read_does_not_use_up_the_frequency(client, broker, demo):
    stranger = create_citizen(broker)  # not in the civil registry: the source answers 404
    tokens = Flow(client, demo["services"][0], stranger, details=person_details(
        ["given_name"], constraints={"frequency": {"max_reads": 1, "per": "P1D"}})).tokens()
    for _ in range(3):
        assert client.get(PERSON, headers=_bearer(tokens)).status_code == 404
    assert _refusals(broker, tokens["consent_id"]) == ["source:SubjectNotFound"] * 3


class RogueConnector:
    """A connector that breaks the contract in the way a test asks for."""

    name = "rogue"

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}

    def describe(self) -> ConnectorDescription:
        dpv = "https://w3id.org/dpv/pd#"
        return ConnectorDescription("rogue", "Измамник", "Rogue", {"series": ResourceDescription(
            "series", "Поредица", "Series",
            {"values": FieldDescription("values", "Стойности", "Values", dpv + "Data",
                                        dated=True),
             "owner": FieldDescription("owner", "Собственик", "Owner", dpv + "Name")},
            granularities=(Granularity.DAILY,),
        )})

    def fetch(self, subject: SubjectRef, resource: str, fields: Collection[str],
              constraints: Constraints | None = None) -> dict[str, Any]:
        return dict(self.answer)

    def health(self) -> Health:
        return Health(True)


@pytest.fixture
def rogue(settings):
    """A broker of its own (the shared one keeps its catalogue) with the rogue connector."""
    application = create_app({"settings": settings, "TESTING": True})
    connector = RogueConnector()
    application.extensions["serdika"].connectors.add("rogue", connector)
    yield application, connector
    application.extensions["serdika"].db.dispose()


@pytest.mark.parametrize(("answer", "why"), [
    ({"values": [], "owner": "x", "national_id": "8803144710"}, "an extra field"),
    ({"owner": "x"}, "a missing field"),
    ({"values": [{"start": "2020-01-01", "end": "2020-01-02"}], "owner": "x"}, "too early"),
    ({"values": [{"start": "2026-01-01T05:00:00+02:00", "end": "2026-01-01T06:00:00+02:00"}],
      "owner": "x"}, "an hourly record in a daily read"),
    ({"values": "not records", "owner": "x"}, "not a list"),
])
def test_the_broker_refuses_what_a_connector_should_not_return(rogue, demo, broker, answer,
                                                               why):
    application, connector = rogue
    connector.answer = answer
    client = application.test_client()
    details = [{"type": "personal_data", "connector": "rogue", "resource": "series",
                "fields": ["values", "owner"], "purpose": "energy_poverty_support",
                "constraints": {"date_range": {"from": "2025-12-01", "to": "2026-01-31"}}}]
    tokens = _tokens(client, demo, details)
    response = client.get("/api/v1/data/rogue/series?granularity=daily",
                          headers=_bearer(tokens))
    assert response.status_code == 502, why
    assert response.mimetype == "application/problem+json"
    assert "8803144710" not in response.get_data(as_text=True)
    assert _refusals(broker, tokens["consent_id"]) == ["source:BadUpstreamData"]


def test_a_well_behaved_answer_passes_the_check(rogue, demo):
    application, connector = rogue
    connector.answer = {"values": [{"start": "2026-01-01", "end": "2026-01-02", "kwh": 3.5}],
                        "owner": "x"}
    client = application.test_client()
    details = [{"type": "personal_data", "connector": "rogue", "resource": "series",
                "fields": ["values", "owner"], "purpose": "energy_poverty_support",
                "constraints": {"date_range": {"from": "2025-12-01", "to": "2026-01-31"}}}]
    tokens = _tokens(client, demo, details)
    response = client.get("/api/v1/data/rogue/series?granularity=daily",
                          headers=_bearer(tokens))
    assert response.status_code == 200
    assert response.get_json()["data"] == connector.answer


def test_finer_values_cannot_hide_inside_a_coarse_record(rogue, demo):
    application, connector = rogue
    connector.answer = {"values": [{"start": "2026-01-01", "end": "2026-01-02",
                                    "hours": [{"start": "2026-01-01T00:00:00+02:00",
                                               "kwh": 0.2}]}], "owner": "x"}
    client = application.test_client()
    details = [{"type": "personal_data", "connector": "rogue", "resource": "series",
                "fields": ["values", "owner"], "purpose": "energy_poverty_support"}]
    tokens = _tokens(client, demo, details)
    response = client.get("/api/v1/data/rogue/series?granularity=daily&from=2026-01-01"
                          "&to=2026-01-31", headers=_bearer(tokens))
    assert response.status_code == 502
