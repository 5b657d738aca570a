"""Consent constraints: their shape in authorization details and how a read is narrowed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import (
    ConnectorDescription,
    FieldDescription,
    Granularity,
    ResourceDescription,
)
from consent.constraints import (
    DEFAULT_WINDOW_DAYS,
    MAX_HOURLY_DAYS,
    NO_LIMITS,
    BadReadParameters,
    Frequency,
    GrantedLimits,
    ReadRefused,
    parse_read_parameters,
    resolve_read,
)
from consent.requests import InvalidAuthorizationDetails, PurposeRule, parse_authorization_details

DPV = "https://w3id.org/dpv/pd#"
SERIES = ResourceDescription(
    "electricity", "Ток", "Electricity",
    {"consumption": FieldDescription("consumption", "Потребление", "Consumption",
                                     DPV + "EnergyConsumption", dated=True),
     "meter_id": FieldDescription("meter_id", "Уред", "Meter", DPV + "Identifier")},
    granularities=(Granularity.HOURLY, Granularity.DAILY, Granularity.MONTHLY),
)
DATED = ResourceDescription(
    "property_tax", "Данък", "Tax",
    {"assessments": FieldDescription("assessments", "Оценки", "Assessments",
                                     DPV + "Tax", dated=True)},
)
PLAIN = ResourceDescription(
    "person", "Лице", "Person",
    {"given_name": FieldDescription("given_name", "Име", "Given name", DPV + "Name")},
)
CATALOGUE = {"source": ConnectorDescription("source", "Източник", "Source",
                                            {r.name: r for r in (SERIES, DATED, PLAIN)})}
PURPOSES = {"support": PurposeRule("support", "P90D", "P1Y")}
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
TODAY = date(2026, 11, 26)


def _parse(resource: str, constraints: object, fields: list[str] | None = None):
    detail = {"type": "personal_data", "connector": "source", "resource": resource,
              "fields": fields or list(CATALOGUE["source"].resources[resource].fields),
              "purpose": "support", "constraints": constraints}
    return parse_authorization_details(json.dumps([detail]), catalogue=CATALOGUE,
                                       purposes=PURPOSES, default_purpose=None, now=NOW)


def test_constraints_are_parsed_kept_and_shown_back():
    constraints = {"date_range": {"from": "2026-01-01", "to": "2026-06-30"},
                   "granularity": "daily", "frequency": {"max_reads": 2, "per": "P1D"}}
    request = _parse("electricity", constraints)
    item = request.items[0]
    assert item.limits == GrantedLimits(date(2026, 1, 1), date(2026, 6, 30), Granularity.DAILY,
                                        Frequency(2, "P1D"))
    assert item.as_dict()["constraints"] == constraints
    assert request.authorization_details()[0]["constraints"] == constraints
    assert GrantedLimits.stored(item.as_dict()["constraints"]) == item.limits


def test_no_constraints_leave_the_item_as_before():
    request = _parse("person", {})  # an empty object is no limit
    assert "constraints" not in request.items[0].as_dict()


def test_frequency_alone_applies_to_any_resource():
    request = _parse("person", {"frequency": {"max_reads": 1, "per": "PT12H"}})
    assert request.items[0].limits.frequency == Frequency(1, "PT12H")
    assert request.items[0].limits.frequency.period == timedelta(hours=12)


@pytest.mark.parametrize(("resource", "constraints", "message"), [
    ("person", {"date_range": {"from": "2026-01-01"}}, "only to dated resources"),
    ("property_tax", {"granularity": "monthly"}, "not offered"),
    ("electricity", {"granularity": "weekly"}, "granularity"),
    ("electricity", {"date_range": {}}, "give 'from', 'to' or both"),
    ("electricity", {"date_range": {"from": "2026-02-01", "to": "2026-01-01"}}, "after"),
    ("electricity", {"date_range": {"from": "01.02.2026"}}, "date_range"),
    ("electricity", {"date_range": {"since": "2026-01-01"}}, "since"),
    ("person", {"frequency": {"max_reads": 0, "per": "P1D"}}, "max_reads"),
    ("person", {"frequency": {"max_reads": "1", "per": "P1D"}}, "max_reads"),
    ("person", {"frequency": {"max_reads": 1, "per": "P1M"}}, "weeks, days, hours"),
    ("person", {"frequency": {"max_reads": 1, "per": "PT1S"}}, "between one minute"),
    ("person", {"frequency": {"max_reads": 1, "per": "daily"}}, "ISO 8601"),
    ("person", {"frequency": {"max_reads": 1}}, "per"),
    ("person", {"rate": 3}, "rate"),
    ("person", [], "constraints"),
])
def test_bad_constraints_are_refused_with_a_clear_description(resource, constraints, message):
    with pytest.raises(InvalidAuthorizationDetails) as refused:
        _parse(resource, constraints)
    assert message in str(refused.value)


def _resolve(limits=NO_LIMITS, resource=SERIES, **asked):
    return resolve_read(limits, resource, asked_from=asked.get("asked_from"),
                        asked_to=asked.get("asked_to"),
                        asked_granularity=asked.get("asked_granularity"), today=TODAY)


def test_a_plain_resource_gets_no_constraints_and_refuses_dates():
    assert _resolve(resource=PLAIN).date_from is None
    with pytest.raises(BadReadParameters):
        _resolve(resource=PLAIN, asked_from=TODAY)


def test_without_any_bound_a_dated_read_covers_the_default_window_at_the_coarsest():
    constraints = _resolve()
    assert constraints.date_to == TODAY
    assert (constraints.date_to - constraints.date_from).days == DEFAULT_WINDOW_DAYS - 1
    assert constraints.granularity is Granularity.MONTHLY


def test_omitted_parameters_take_the_consent_bounds():
    limits = GrantedLimits(date(2026, 1, 1), date(2026, 3, 31), Granularity.DAILY)
    constraints = _resolve(limits)
    assert (constraints.date_from, constraints.date_to, constraints.granularity) == (
        date(2026, 1, 1), date(2026, 3, 31), Granularity.DAILY)


def test_asking_beyond_the_consent_is_refused_not_narrowed():
    limits = GrantedLimits(date(2026, 1, 1), date(2026, 3, 31), Granularity.DAILY)
    with pytest.raises(ReadRefused) as early:
        _resolve(limits, asked_from=date(2025, 12, 31))
    assert early.value.reason == "outside_date_range"
    with pytest.raises(ReadRefused):
        _resolve(limits, asked_to=date(2026, 4, 1))
    with pytest.raises(ReadRefused) as finer:
        _resolve(limits, asked_granularity="hourly")
    assert finer.value.reason == "granularity_too_fine"
    coarser = _resolve(limits, asked_granularity="monthly", asked_from=date(2026, 2, 1))
    assert (coarser.granularity, coarser.date_from) == (Granularity.MONTHLY, date(2026, 2, 1))


def test_malformed_read_parameters_are_bad_requests():
    for args in ({"from": "2026-1-1"}, {"to": "tomorrow"}, {"granularity": "weekly"},
                 {"from": "2026-01-01T00:00"}):
        with pytest.raises(BadReadParameters):
            parse_read_parameters(args)
    assert parse_read_parameters({"from": "2026-01-01", "granularity": "daily"}) == (
        date(2026, 1, 1), None, "daily")
    with pytest.raises(BadReadParameters):
        _resolve(asked_from=date(2026, 5, 1), asked_to=date(2026, 4, 1))
    with pytest.raises(BadReadParameters):
        _resolve(resource=DATED, asked_granularity="daily")
    with pytest.raises(BadReadParameters):
        _resolve(asked_granularity="hourly", asked_from=TODAY - timedelta(days=MAX_HOURLY_DAYS))


days = st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 12, 31))
granularities = st.sampled_from(list(Granularity))


@settings(max_examples=300, deadline=None)
@given(granted_from=st.none() | days, granted_to=st.none() | days,
       granted_granularity=st.none() | granularities, asked_from=st.none() | days,
       asked_to=st.none() | days, asked_granularity=st.none() | granularities)
def test_a_resolved_read_never_leaves_the_consent(granted_from, granted_to, granted_granularity,
                                                  asked_from, asked_to, asked_granularity):
    if granted_from and granted_to and granted_from > granted_to:
        granted_from, granted_to = granted_to, granted_from
    limits = GrantedLimits(granted_from, granted_to, granted_granularity)
    try:
        constraints = _resolve(limits, asked_from=asked_from, asked_to=asked_to,
                               asked_granularity=asked_granularity and asked_granularity.value)
    except (ReadRefused, BadReadParameters):
        return
    assert constraints.date_from <= constraints.date_to
    if granted_from:
        assert constraints.date_from >= granted_from
    if granted_to:
        assert constraints.date_to <= granted_to
    if granted_granularity:
        assert not constraints.granularity.finer_than(granted_granularity)
    if asked_from:
        assert constraints.date_from == asked_from
    if asked_granularity:
        assert constraints.granularity is asked_granularity
