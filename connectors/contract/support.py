"""What the contract kit's checks share: limits, fixtures with defaults, and helpers.

The fixtures are the ones a connector's test may override (:mod:`connectors.contract`); the
helpers read as the broker would, and collect every failed check of a test before failing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from commons.clock import city_zone
from connectors.base import (
    Connector,
    Constraints,
    Granularity,
    ResourceDescription,
    SubjectRef,
)

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


class Problems:
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


def record_key(record: Any) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def coarsest(resource: ResourceDescription) -> Granularity | None:
    """The resource's coarsest granularity, which every consent to the series allows."""
    return max(resource.granularities, key=lambda g: g.rank, default=None)


def at_granularity(constraints: Constraints, granularity: Granularity | None) -> Constraints:
    """``constraints`` at ``granularity``, shortened to what the broker allows for hourly data."""
    if granularity is Granularity.HOURLY and constraints.date_to and constraints.date_from:
        earliest = constraints.date_to - timedelta(days=HOURLY_DAYS - 1)
        constraints = replace(constraints, date_from=max(constraints.date_from, earliest))
    return replace(constraints, granularity=granularity)


def narrower(constraints: Constraints) -> Constraints:
    """The last week (hourly and daily data) or year (anything coarser) of ``constraints``."""
    assert constraints.date_from is not None and constraints.date_to is not None
    if constraints.granularity in (Granularity.HOURLY, Granularity.DAILY):
        start = constraints.date_to - timedelta(days=6)
    else:
        start = years_before(constraints.date_to, 1) + timedelta(days=1)
    return replace(constraints, date_from=max(constraints.date_from, start))


def require_dated(constraints_for: ConstraintsFor, resource: ResourceDescription) -> Constraints:
    constraints = constraints_for(resource)
    assert constraints is not None and constraints.date_from and constraints.date_to, (
        f"constraints_for gives no date range for the dated resource {resource.name}"
    )
    return constraints


class ContractBase:
    """The fixtures with defaults, and the helpers, of the contract's checks."""

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
