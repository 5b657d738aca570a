"""RFC 9396 ``authorization_details`` of type ``personal_data`` and the scope shorthand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.civil_registry import DESCRIPTION
from consent.requests import (
    MAX_ENTRIES,
    AccessRequest,
    InvalidAuthorizationDetails,
    PurposeRule,
    ScopeItem,
    parse_authorization_details,
    parse_scope_shorthand,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CATALOGUE = {"civil_registry": DESCRIPTION}
PURPOSES = {
    "kindergarten_enrolment": PurposeRule("kindergarten_enrolment", "P90D", "P1Y"),
    "energy_poverty_support": PurposeRule("energy_poverty_support", "P6M", "P1Y"),
}
ALL_PERSON_FIELDS = tuple(DESCRIPTION.resources["person"].fields)

# The example of docs/architecture.md, "The core flow".
DESIGN_EXAMPLE = """[{"type": "personal_data",
  "connector": "civil_registry", "resource": "person",
  "fields": ["given_name", "family_name", "birth_date", "address"],
  "actions": ["read"],
  "purpose": "kindergarten_enrolment",
  "duration": "P90D"}]"""


def _detail(**overrides: Any) -> dict[str, Any]:
    detail = json.loads(DESIGN_EXAMPLE)[0]
    detail.update(overrides)
    return {key: value for key, value in detail.items() if value is not None}


def parse(raw: Any, default_purpose: str | None = "kindergarten_enrolment") -> AccessRequest:
    if not isinstance(raw, str):
        raw = json.dumps(raw)
    return parse_authorization_details(raw, catalogue=CATALOGUE, purposes=PURPOSES,
                                       default_purpose=default_purpose, now=NOW)


def shorthand(scope: str, default_purpose: str | None = "kindergarten_enrolment"
              ) -> AccessRequest:
    return parse_scope_shorthand(scope, catalogue=CATALOGUE, purposes=PURPOSES,
                                 default_purpose=default_purpose, now=NOW)


def test_the_design_example():
    request = parse(DESIGN_EXAMPLE)
    assert request == AccessRequest("kindergarten_enrolment", "P90D", (
        ScopeItem("civil_registry", "person",
                  ("given_name", "family_name", "birth_date", "address"), ("read",)),))
    assert request.authorization_details() == json.loads(DESIGN_EXAMPLE)


def test_defaults_fill_in_purpose_duration_actions_and_fields():
    request = parse([{"type": "personal_data", "connector": "civil_registry",
                      "resource": "household"}])
    assert request.purpose == "kindergarten_enrolment" and request.duration == "P90D"
    assert request.items == (ScopeItem("civil_registry", "household",
                                       tuple(DESCRIPTION.resources["household"].fields)),)


def test_duplicate_fields_are_asked_once():
    request = parse([_detail(fields=["given_name", "given_name", "address"])])
    assert request.items[0].fields == ("given_name", "address")


def test_two_resources_one_purpose():
    request = parse([_detail(), _detail(resource="household", fields=["size"])])
    assert [(item.resource, item.fields) for item in request.items] == [
        ("person", ("given_name", "family_name", "birth_date", "address")),
        ("household", ("size",))]


def test_duration_up_to_the_maximum():
    assert parse([_detail(duration="P1Y")]).duration == "P1Y"
    assert parse([_detail(duration="PT1H")]).duration == "PT1H"


MALFORMED = {
    "bad JSON": '[{"type": "personal_data",',
    "not JSON at all": "civil_registry.person:read",
    "deeply nested": "[" * 100_000 + "]" * 100_000,
    "an object, not a list": _detail(),
    "a string": "personal_data",
    "null": None,
    "empty list": [],
    "too many entries": [_detail()] * (MAX_ENTRIES + 1),
    "entry not an object": ["personal_data"],
    "entry is a list": [[_detail()]],
    "wrong type": [_detail(type="openid_credential")],
    "missing type": [{k: v for k, v in _detail().items() if k != "type"}],
    "missing connector": [{k: v for k, v in _detail().items() if k != "connector"}],
    "unknown key": [_detail(locations=["https://evil.example"])],
    "unknown connector": [_detail(connector="tax_office")],
    "unknown resource": [_detail(resource="vehicle")],
    "unknown field": [_detail(fields=["given_name", "salary"])],
    "field with trailing newline": [_detail(fields=["given_name\n"])],
    "invalid field name": [_detail(fields=["Given-Name"])],
    "fields not a list": [_detail(fields="given_name")],
    "empty fields": [_detail(fields=[])],
    "unsupported action": [_detail(actions=["write"])],
    "empty actions": [_detail(actions=[])],
    "disallowed purpose": [_detail(purpose="public_transport_card")],
    "unknown purpose": [_detail(purpose="marketing")],
    "purpose not a string": [_detail(purpose=["kindergarten_enrolment"])],
    "mixed purposes": [_detail(), _detail(resource="household", fields=["size"],
                                          purpose="energy_poverty_support")],
    "mixed durations": [_detail(), _detail(resource="household", fields=["size"],
                                           duration="P30D")],
    "same resource twice": [_detail(), _detail(fields=["gender"])],
    "duration over maximum": [_detail(duration="P13M")],
    "duration over maximum in days": [_detail(duration="P366D")],
    "zero duration": [_detail(duration="P0D")],
    "zero time duration": [_detail(duration="PT0S")],
    "empty time duration": [_detail(duration="PT")],
    "negative duration": [_detail(duration="-P1D")],
    "garbage duration": [_detail(duration="ninety days")],
    "bare P": [_detail(duration="PP")],
    "duration not a string": [_detail(duration=90)],
    "fractional years": [_detail(duration="P0.5Y")],
    "duration beyond the calendar": [_detail(duration="P99999999D")],
    "years beyond the calendar": [_detail(duration="P9999Y")],
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_details_are_rejected(raw):
    with pytest.raises(InvalidAuthorizationDetails) as caught:
        parse(raw)
    assert caught.value.error == "invalid_authorization_details"
    assert str(caught.value), "the error says what is wrong"
    assert len(str(caught.value)) <= 500


def test_no_purpose_and_no_default():
    with pytest.raises(InvalidAuthorizationDetails, match="default purpose"):
        parse([_detail(purpose=None)], default_purpose=None)


def test_scope_shorthand_means_every_field_and_the_default_purpose():
    request = shorthand("civil_registry.person:read")
    assert request == AccessRequest("kindergarten_enrolment", "P90D", (
        ScopeItem("civil_registry", "person", ALL_PERSON_FIELDS),))
    both = shorthand("civil_registry.person:read civil_registry.household:read "
                     "civil_registry.person:read", default_purpose="energy_poverty_support")
    assert both.duration == "P6M"
    assert [item.resource for item in both.items] == ["person", "household"]


@pytest.mark.parametrize("scope", [
    "", "   ", "civil_registry.person", "civil_registry.person:write", "civil_registry:read",
    ".person:read", "civil_registry.:read", "tax_office.person:read",
    "civil_registry.vehicle:read", "civil_registry.person.given_name:read", "openid",
])
def test_bad_scope_shorthand(scope):
    with pytest.raises(InvalidAuthorizationDetails):
        shorthand(scope)


def test_scope_shorthand_needs_a_default_purpose():
    with pytest.raises(InvalidAuthorizationDetails):
        shorthand("civil_registry.person:read", default_purpose=None)


def test_narrowed_keeps_only_the_ticked_fields_in_order():
    request = parse([_detail(), _detail(resource="household", fields=["size", "members"])])
    narrowed = request.narrowed({
        ("civil_registry", "person"): {"address", "given_name", "national_id"},
        ("civil_registry", "household"): set(),
    })
    assert narrowed.purpose == request.purpose and narrowed.duration == request.duration
    assert narrowed.items == (ScopeItem("civil_registry", "person",
                                        ("given_name", "address"), ("read",)),)
    assert request.narrowed({}).items == ()
    assert request.narrowed({
        ("civil_registry", "person"): set(ALL_PERSON_FIELDS),
        ("civil_registry", "household"): {"size", "members"},
    }) == request
