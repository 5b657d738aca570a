"""The contract's checks of what fetch() returns: exactly the fields; dated records in range."""

from __future__ import annotations

import json

import pytest

from connectors.base import (
    Connector,
    Constraints,
    SubjectRef,
)
from connectors.contract.support import (
    ConstraintsFor,
    ContractBase,
    Problems,
    at_granularity,
    narrower,
    record_key,
    require_dated,
)
from connectors.limits import enforce, parse_instant, window


class ReadChecks(ContractBase):
    """The contract's checks of what fetch() returns: exactly the fields; dated records in range."""

    # -- fetch returns exactly what is asked -----------------------------------------------------

    def test_both_subjects_have_data_in_every_resource(
        self,
        connector: Connector,
        subject: SubjectRef,
        other_subject: SubjectRef,
        constraints_for: ConstraintsFor,
    ) -> None:
        # Without data in every resource, the other checks would pass on empty answers.
        problems = Problems()
        for who, person in (("subject", subject), ("other_subject", other_subject)):
            for resource in self._resources(connector).values():
                with problems.at(f"resource {resource.name} of {who}"):
                    data = self._read(connector, person, resource, resource.fields, constraints_for)
                    dated = [name for name, field in resource.fields.items() if field.dated]
                    if dated:
                        assert any(data.get(name) for name in dated), (
                            "no dated records in the window of constraints_for; give the "
                            "fixture data inside it, or override constraints_for"
                        )
                    else:
                        assert any(data.values()), "every field is empty, zero or None"
        problems.report()

    def test_fetch_returns_exactly_the_fields_asked(
        self, connector: Connector, subject: SubjectRef, constraints_for: ConstraintsFor
    ) -> None:
        problems = Problems()
        for resource in self._resources(connector).values():
            with problems.at(f"resource {resource.name}, all fields"):
                data = self._read(connector, subject, resource, resource.fields, constraints_for)
                assert isinstance(data, dict), f"returned a {type(data).__name__}, not a dict"
                assert set(data) == set(resource.fields), (
                    f"returned {sorted(data)}, asked {sorted(resource.fields)}"
                )
            for name in resource.fields:
                with problems.at(f"field {resource.name}.{name} alone"):
                    single = self._read(connector, subject, resource, [name], constraints_for)
                    assert set(single) == {name}, f"returned {sorted(single)}"
        problems.report()

    def test_a_field_has_the_same_value_whatever_else_is_asked(
        self, connector: Connector, subject: SubjectRef, constraints_for: ConstraintsFor
    ) -> None:
        problems = Problems()
        for resource in self._resources(connector).values():
            with problems.at(f"resource {resource.name}"):
                everything = self._read(
                    connector, subject, resource, resource.fields, constraints_for
                )
            for name in resource.fields:
                with problems.at(f"field {resource.name}.{name}"):
                    alone = self._read(connector, subject, resource, [name], constraints_for)
                    assert alone.get(name) == everything.get(name), (
                        "the value read alone differs from the value read with all fields"
                    )
        problems.report()

    def test_field_order_does_not_matter(
        self, connector: Connector, subject: SubjectRef, constraints_for: ConstraintsFor
    ) -> None:
        problems = Problems()
        for resource in self._resources(connector).values():
            with problems.at(f"resource {resource.name}"):
                names = list(resource.fields)
                forward = self._read(connector, subject, resource, names, constraints_for)
                backward = self._read(connector, subject, resource, names[::-1], constraints_for)
                assert forward == backward, "the answer depends on the order of the fields"
        problems.report()

    def test_answers_are_plain_json_values(
        self, connector: Connector, subject: SubjectRef, constraints_for: ConstraintsFor
    ) -> None:
        # The broker hands the answer to the service as JSON: a date or a Decimal here would
        # either fail there or change its form on the way.
        problems = Problems()
        for resource in self._resources(connector).values():
            with problems.at(f"resource {resource.name}"):
                data = self._read(connector, subject, resource, resource.fields, constraints_for)
                for name, value in data.items():
                    assert json.loads(json.dumps(value)) == value, (
                        f"field {name} is not made of plain JSON values"
                    )
        problems.report()

    # -- dated records, windows and granularities ----------------------------------------------

    def test_answers_pass_the_brokers_gate(
        self, connector: Connector, subject: SubjectRef, constraints_for: ConstraintsFor
    ) -> None:
        problems = Problems()
        for resource in self._resources(connector).values():
            for fields in [list(resource.fields), *([name] for name in resource.fields)]:
                with problems.at(f"resource {resource.name}, fields {fields}"):
                    constraints = constraints_for(resource)
                    data = connector.fetch(subject, resource.name, fields, constraints)
                    enforce(resource, fields, constraints or Constraints(), data)
        problems.report()

    def test_every_granularity_offered_works(
        self, connector: Connector, subject: SubjectRef, constraints_for: ConstraintsFor
    ) -> None:
        series = [r for r in self._resources(connector).values() if r.granularities]
        if not series:
            pytest.skip("the connector serves no time series")
        problems = Problems()
        for resource in series:
            for granularity in resource.granularities:
                with problems.at(f"resource {resource.name} at {granularity.value}"):
                    constraints = at_granularity(
                        require_dated(constraints_for, resource), granularity
                    )
                    fields = list(resource.fields)
                    data = connector.fetch(subject, resource.name, fields, constraints)
                    enforce(resource, fields, constraints, data)
        problems.report()

    def test_a_narrower_window_gives_the_wider_ones_records_inside_it(
        self, connector: Connector, subject: SubjectRef, constraints_for: ConstraintsFor
    ) -> None:
        dated = [r for r in self._resources(connector).values() if r.dated]
        if not dated:
            pytest.skip("the connector serves no dated records")
        problems = Problems()
        for resource in dated:
            default = require_dated(constraints_for, resource)
            for granularity in resource.granularities or (None,):
                where = f"resource {resource.name}" + (
                    f" at {granularity.value}" if granularity else ""
                )
                with problems.at(where):
                    wide = at_granularity(default, granularity)
                    narrow = narrower(wide)
                    fields = list(resource.fields)
                    wide_data = connector.fetch(subject, resource.name, fields, wide)
                    narrow_data = connector.fetch(subject, resource.name, fields, narrow)
                    enforce(resource, fields, narrow, narrow_data)
                    start, end = window(narrow)
                    for name, field in resource.fields.items():
                        if not field.dated:
                            continue
                        expected = {
                            record_key(r)
                            for r in wide_data[name]
                            if start <= parse_instant(r["start"]) and parse_instant(r["end"]) <= end
                        }
                        got = {record_key(r) for r in narrow_data[name]}
                        assert got == expected, (
                            f"field {name} over {narrow.date_from}..{narrow.date_to}: "
                            f"{len(got - expected)} records that the wider window "
                            f"{wide.date_from}..{wide.date_to} does not have, "
                            f"{len(expected - got)} of its records missing"
                        )
        problems.report()

    def test_a_dated_read_needs_a_date_range(
        self, connector: Connector, subject: SubjectRef
    ) -> None:
        dated = [r for r in self._resources(connector).values() if r.dated]
        if not dated:
            pytest.skip("the connector serves no dated records")
        problems = Problems()
        for resource in dated:
            with problems.at(f"resource {resource.name}"), pytest.raises(ValueError):
                connector.fetch(subject, resource.name, list(resource.fields), None)
        problems.report()
