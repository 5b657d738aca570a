"""The connector contract test kit: what every connector must do, as pytest tests.

Every built-in connector runs these tests, and a third-party connector's authors run them
against theirs. Subclass :class:`ConnectorContract` in a test module, in a class whose name
starts with ``Test``, and give it three fixtures; pytest then collects every check below::

    import pytest
    from connectors.base import SubjectRef
    from connectors.contract import ConnectorContract

    from serdika_sofia_libraries import SofiaLibrariesConnector


    class TestSofiaLibrariesContract(ConnectorContract):
        @pytest.fixture
        def connector(self, tmp_path):
            # A configured instance whose source holds data for both subjects below.
            return SofiaLibrariesConnector(path=make_test_register(tmp_path))

        @pytest.fixture
        def subject(self):
            # Has data in every resource the connector describes.
            return SubjectRef("8803144710")

        @pytest.fixture
        def other_subject(self):
            # Also has data in every resource, and it differs from ``subject``'s.
            return SubjectRef("8511021862")

Run it with ``pytest``. Fixtures with defaults that a subclass may override:

``unknown_subject``
    A subject the source does not know; ``SubjectRef("0000000000")``.
``constraints_for``
    A callable ``(ResourceDescription) -> Constraints | None`` giving the constraints of a read,
    as the broker would resolve them: ``None`` for a resource without dated fields; for a dated
    one the last three years up to today in the city's calendar (Europe/Sofia), at the
    resource's coarsest granularity if it is a time series. Override it (or just the method
    :meth:`ConnectorContract.dated_constraints`) when the subject's dated test data lies
    elsewhere in time.
``unavailable_connector``
    An instance configured against a source that is down (a database file that is gone, a
    port nobody listens on); ``None``, which skips the checks of failure reporting.

The checks, each a test of its own: the object satisfies :class:`connectors.base.Connector`;
``describe()`` is complete (labels in Bulgarian and English, names, W3C DPV IRIs, sensitivities,
granularities only on dated resources) and the same on every call; ``fetch()`` returns exactly
the fields asked for, with the same values whichever other fields are asked with them and in
whatever order, as plain JSON values; the answers pass the broker's own gate
(:func:`connectors.limits.enforce`) at every granularity the resource offers, and a narrower
window gives exactly those records of a wider one that lie inside it; an unknown subject or
resource is refused with a typed error that does not echo the national identifier; two
subjects' answers never mix, also when read from many threads at once; ``health()`` reports
without raising.

What the kit cannot see, and the connector must still do: bound every call to the source with a
timeout, log no personal data, and keep no per-subject caches.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from commons.clock import city_zone
from connectors.base import (
    Connector,
    ConnectorDescription,
    ConnectorError,
    Constraints,
    Granularity,
    Health,
    ResourceDescription,
    Sensitivity,
    SubjectNotFound,
    SubjectRef,
)
from connectors.limits import enforce, parse_instant, window

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
DPV_PREFIX = "https://w3id.org/dpv"
#: The broker refuses more hourly values than this many days in one read.
HOURLY_DAYS = 92
#: A resource name no connector serves.
UNKNOWN_RESOURCE = "no_such_resource_in_the_contract_kit"
THREADS = 8
READS_PER_THREAD = 20

ConstraintsFor = Callable[[ResourceDescription], Constraints | None]


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (28 February for a 29th that has none)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def city_today() -> date:
    return datetime.now(city_zone()).date()


class _Problems:
    """Collects every failed check of a test, so one run names every broken resource/field."""

    def __init__(self) -> None:
        self.found: list[str] = []

    @contextmanager
    def at(self, where: str) -> Iterator[None]:
        """Record a failed assertion or an unexpected exception in the block, under ``where``."""
        try:
            yield
        except (AssertionError, pytest.fail.Exception) as exc:
            # pytest.raises reports "DID NOT RAISE" with pytest's own Failed outcome.
            self.found.append(f"{where}: {exc}")
        except Exception as exc:
            self.found.append(f"{where}: raised {type(exc).__name__}: {exc}")

    def check(self, ok: bool, where: str, message: str) -> None:
        if not ok:
            self.found.append(f"{where}: {message}")

    def report(self) -> None:
        if self.found:
            pytest.fail("\n".join(self.found), pytrace=False)


def _record_key(record: Any) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


class ConnectorContract:
    """The checks every connector passes; subclass it as ``Test...`` and add the fixtures.

    Required fixtures: ``connector``, ``subject``, ``other_subject`` (see the module's
    documentation). Optional: ``unknown_subject``, ``constraints_for``,
    ``unavailable_connector``.
    """

    # -- fixtures a subclass may override ------------------------------------------------------

    @pytest.fixture
    def unknown_subject(self) -> SubjectRef:
        return SubjectRef("0000000000")

    @pytest.fixture
    def constraints_for(self) -> ConstraintsFor:
        def constraints(resource: ResourceDescription) -> Constraints | None:
            return self.dated_constraints(resource) if resource.dated else None

        return constraints

    def dated_constraints(self, resource: ResourceDescription) -> Constraints:
        """The date range (and granularity) of a dated read: three years up to today."""
        today = city_today()
        return Constraints(
            date_from=years_before(today, 3), date_to=today, granularity=coarsest(resource)
        )

    @pytest.fixture
    def unavailable_connector(self) -> Connector | None:
        return None

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _resources(connector: Connector) -> dict[str, ResourceDescription]:
        return dict(connector.describe().resources)

    @staticmethod
    def _read(
        connector: Connector,
        subject: SubjectRef,
        resource: ResourceDescription,
        fields: Collection[str],
        constraints_for: ConstraintsFor,
    ) -> dict[str, Any]:
        return connector.fetch(subject, resource.name, list(fields), constraints_for(resource))

    # -- the connector and its description -----------------------------------------------------

    def test_satisfies_the_connector_protocol(self, connector: Any) -> None:
        assert isinstance(connector, Connector), (
            f"{type(connector).__name__} lacks name, describe(), fetch() or health()"
        )
        assert isinstance(connector.name, str), "name must be a str"
        assert NAME.match(connector.name), f"name {connector.name!r} is not [a-z][a-z0-9_]*"
        assert isinstance(connector.describe(), ConnectorDescription), (
            "describe() must return a ConnectorDescription"
        )

    def test_describe_has_labels_in_both_languages(self, connector: Connector) -> None:
        description = connector.describe()
        problems = _Problems()
        labelled: list[tuple[str, Any]] = [("connector", description)]
        for resource in description.resources.values():
            labelled.append((f"resource {resource.name}", resource))
            labelled.extend(
                (f"field {resource.name}.{field.name}", field) for field in resource.fields.values()
            )
        for where, item in labelled:
            for attribute in ("label_bg", "label_en"):
                label = getattr(item, attribute)
                problems.check(
                    isinstance(label, str) and bool(label.strip()),
                    where,
                    f"{attribute} is empty or not a str",
                )
            problems.check(
                isinstance(item.label_bg, str) and bool(CYRILLIC.search(item.label_bg)),
                where,
                f"label_bg {item.label_bg!r} has no Cyrillic letters",
            )
        problems.report()

    def test_describe_names_match_their_keys(self, connector: Connector) -> None:
        description = connector.describe()
        problems = _Problems()
        problems.check(
            isinstance(description.name, str) and bool(NAME.match(description.name)),
            "connector",
            f"description name {description.name!r} is not a valid name",
        )
        problems.check(bool(description.resources), "connector", "describes no resources")
        for key, resource in description.resources.items():
            where = f"resource {key}"
            problems.check(
                isinstance(resource, ResourceDescription), where, "is not a ResourceDescription"
            )
            problems.check(bool(NAME.match(key)), where, "name is not ^[a-z][a-z0-9_]{0,63}$")
            problems.check(resource.name == key, where, f"is named {resource.name!r} inside")
            problems.check(bool(resource.fields), where, "has no fields")
            for field_key, field in resource.fields.items():
                where = f"field {key}.{field_key}"
                problems.check(bool(NAME.match(field_key)), where, "name is not a valid name")
                problems.check(field.name == field_key, where, f"is named {field.name!r} inside")
        problems.report()

    def test_describe_categories_and_sensitivities(self, connector: Connector) -> None:
        problems = _Problems()
        for resource in connector.describe().resources.values():
            for field in resource.fields.values():
                where = f"field {resource.name}.{field.name}"
                problems.check(
                    isinstance(field.dpv_category, str)
                    and field.dpv_category.startswith(DPV_PREFIX)
                    and len(field.dpv_category) > len(DPV_PREFIX) + 1,
                    where,
                    f"dpv_category {field.dpv_category!r} is not a {DPV_PREFIX} IRI",
                )
                problems.check(
                    isinstance(field.sensitivity, Sensitivity),
                    where,
                    f"sensitivity {field.sensitivity!r} is not a Sensitivity",
                )
                problems.check(isinstance(field.optional, bool), where, "optional is not a bool")
                problems.check(isinstance(field.dated, bool), where, "dated is not a bool")
        problems.report()

    def test_granularities_only_on_dated_resources(self, connector: Connector) -> None:
        problems = _Problems()
        for resource in connector.describe().resources.values():
            where = f"resource {resource.name}"
            granularities = tuple(resource.granularities)
            problems.check(
                all(isinstance(g, Granularity) for g in granularities),
                where,
                f"granularities {granularities!r} are not all Granularity members",
            )
            problems.check(
                len(set(granularities)) == len(granularities), where, "repeats a granularity"
            )
            problems.check(
                not granularities or resource.dated,
                where,
                "lists granularities but has no dated field",
            )
        problems.report()

    def test_describe_is_stable(self, connector: Connector) -> None:
        assert connector.describe() == connector.describe(), (
            "describe() must return the same description on every call"
        )

    # -- fetch returns exactly what is asked -----------------------------------------------------

    def test_both_subjects_have_data_in_every_resource(
        self,
        connector: Connector,
        subject: SubjectRef,
        other_subject: SubjectRef,
        constraints_for: ConstraintsFor,
    ) -> None:
        # Without data in every resource, the other checks would pass on empty answers.
        problems = _Problems()
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
        problems = _Problems()
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
        problems = _Problems()
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
        problems = _Problems()
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
        problems = _Problems()
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
        problems = _Problems()
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
        problems = _Problems()
        for resource in series:
            for granularity in resource.granularities:
                with problems.at(f"resource {resource.name} at {granularity.value}"):
                    constraints = _at_granularity(_dated(constraints_for, resource), granularity)
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
        problems = _Problems()
        for resource in dated:
            default = _dated(constraints_for, resource)
            for granularity in resource.granularities or (None,):
                where = f"resource {resource.name}" + (
                    f" at {granularity.value}" if granularity else ""
                )
                with problems.at(where):
                    wide = _at_granularity(default, granularity)
                    narrow = _narrower(wide)
                    fields = list(resource.fields)
                    wide_data = connector.fetch(subject, resource.name, fields, wide)
                    narrow_data = connector.fetch(subject, resource.name, fields, narrow)
                    enforce(resource, fields, narrow, narrow_data)
                    start, end = window(narrow)
                    for name, field in resource.fields.items():
                        if not field.dated:
                            continue
                        expected = {
                            _record_key(r)
                            for r in wide_data[name]
                            if start <= parse_instant(r["start"]) and parse_instant(r["end"]) <= end
                        }
                        got = {_record_key(r) for r in narrow_data[name]}
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
        problems = _Problems()
        for resource in dated:
            with problems.at(f"resource {resource.name}"), pytest.raises(ValueError):
                connector.fetch(subject, resource.name, list(resource.fields), None)
        problems.report()

    # -- refusals ------------------------------------------------------------------------------

    def test_an_unknown_subject_is_not_found(
        self,
        connector: Connector,
        unknown_subject: SubjectRef,
        constraints_for: ConstraintsFor,
    ) -> None:
        problems = _Problems()
        for resource in self._resources(connector).values():
            with problems.at(f"resource {resource.name}"):
                with pytest.raises(SubjectNotFound) as raised:
                    self._read(
                        connector, unknown_subject, resource, resource.fields, constraints_for
                    )
                assert unknown_subject.national_id not in str(raised.value), (
                    "the error message repeats the national id"
                )
        problems.report()

    def test_an_unknown_resource_is_a_typed_error(
        self, connector: Connector, subject: SubjectRef
    ) -> None:
        # A typed error, so the broker answers a clear problem+json; a KeyError would be a 500.
        with pytest.raises(ConnectorError) as raised:
            connector.fetch(subject, UNKNOWN_RESOURCE, ["value"], None)
        assert subject.national_id not in str(raised.value), (
            "the error message repeats the national id"
        )

    # -- no mixing of subjects -----------------------------------------------------------------

    def test_two_subjects_get_their_own_answers(
        self,
        connector: Connector,
        subject: SubjectRef,
        other_subject: SubjectRef,
        constraints_for: ConstraintsFor,
    ) -> None:
        assert subject != other_subject, "subject and other_subject must be different people"
        resources = self._resources(connector).values()
        first = {
            r.name: self._read(connector, subject, r, r.fields, constraints_for) for r in resources
        }
        second = {
            r.name: self._read(connector, other_subject, r, r.fields, constraints_for)
            for r in resources
        }
        assert first != second, "both subjects get the same answer from every resource"
        again = {
            r.name: self._read(connector, subject, r, r.fields, constraints_for) for r in resources
        }
        assert again == first, "reading the same subject twice gives different answers"

    def test_concurrent_reads_never_mix_subjects(
        self,
        connector: Connector,
        subject: SubjectRef,
        other_subject: SubjectRef,
        constraints_for: ConstraintsFor,
    ) -> None:
        resources = list(self._resources(connector).values())
        reads = [(who, r) for who in (subject, other_subject) for r in resources]
        expected = {
            (who, r.name): self._read(connector, who, r, r.fields, constraints_for)
            for who, r in reads
        }
        start = threading.Barrier(THREADS, timeout=60)

        def worker(offset: int) -> list[str]:
            start.wait()
            mismatches = []
            for i in range(READS_PER_THREAD):
                who, resource = reads[(offset + i) % len(reads)]
                answer = self._read(connector, who, resource, resource.fields, constraints_for)
                if answer != expected[(who, resource.name)]:
                    who_name = "subject" if who == subject else "other_subject"
                    mismatches.append(f"resource {resource.name} of {who_name}, read {i}")
            return mismatches

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(worker, range(THREADS)))
        mismatches = [m for result in results for m in result]
        assert not mismatches, "concurrent reads differ from sequential ones:\n" + "\n".join(
            mismatches
        )

    # -- health and failures -------------------------------------------------------------------

    def test_health_is_ok_for_a_working_source(self, connector: Connector) -> None:
        health = connector.health()
        assert isinstance(health, Health), f"health() returned a {type(health).__name__}"
        assert isinstance(health.detail, str), "Health.detail must be a str"
        assert health.ok is True, f"health() is not ok: {health.detail}"

    def test_an_unavailable_source_is_reported_not_raised(
        self,
        unavailable_connector: Connector | None,
        subject: SubjectRef,
        constraints_for: ConstraintsFor,
    ) -> None:
        if unavailable_connector is None:
            pytest.skip("no unavailable_connector fixture to check failures with")
        # describe() does no I/O, so it still answers.
        assert unavailable_connector.describe() == unavailable_connector.describe()
        health = unavailable_connector.health()
        assert isinstance(health, Health), f"health() returned a {type(health).__name__}"
        assert health.ok is False, "health() is ok although the source is down"
        problems = _Problems()
        for resource in self._resources(unavailable_connector).values():
            with problems.at(f"resource {resource.name}"):
                with pytest.raises(ConnectorError) as raised:
                    self._read(
                        unavailable_connector, subject, resource, resource.fields, constraints_for
                    )
                assert not isinstance(raised.value, SubjectNotFound), (
                    "a source that is down must not look like an unknown subject"
                )
                assert subject.national_id not in str(raised.value), (
                    "the error message repeats the national id"
                )
        problems.report()


def coarsest(resource: ResourceDescription) -> Granularity | None:
    """The resource's coarsest granularity, which every consent to the series allows."""
    return max(resource.granularities, key=lambda g: g.rank, default=None)


def _at_granularity(constraints: Constraints, granularity: Granularity | None) -> Constraints:
    """``constraints`` at ``granularity``, shortened to what the broker allows for hourly data."""
    if granularity is Granularity.HOURLY and constraints.date_to and constraints.date_from:
        earliest = constraints.date_to - timedelta(days=HOURLY_DAYS - 1)
        constraints = replace(constraints, date_from=max(constraints.date_from, earliest))
    return replace(constraints, granularity=granularity)


def _narrower(constraints: Constraints) -> Constraints:
    """The last week (hourly and daily data) or year (anything coarser) of ``constraints``."""
    assert constraints.date_from is not None and constraints.date_to is not None
    if constraints.granularity in (Granularity.HOURLY, Granularity.DAILY):
        start = constraints.date_to - timedelta(days=6)
    else:
        start = years_before(constraints.date_to, 1) + timedelta(days=1)
    return replace(constraints, date_from=max(constraints.date_from, start))


def _dated(constraints_for: ConstraintsFor, resource: ResourceDescription) -> Constraints:
    constraints = constraints_for(resource)
    assert constraints is not None and constraints.date_from and constraints.date_to, (
        f"constraints_for gives no date range for the dated resource {resource.name}"
    )
    return constraints
