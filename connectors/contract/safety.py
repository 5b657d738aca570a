"""The contract's checks of refusals, of subjects never mixing, and of health()."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.base import (
    Connector,
    ConnectorError,
    Health,
    SubjectNotFound,
    SubjectRef,
)
from connectors.contract.support import (
    READS_PER_THREAD,
    THREADS,
    UNKNOWN_RESOURCE,
    ConstraintsFor,
    ContractBase,
    Problems,
)


class SafetyChecks(ContractBase):
    """The contract's checks of refusals, of subjects never mixing, and of health()."""

    # -- refusals ------------------------------------------------------------------------------

    def test_an_unknown_subject_is_not_found(
        self,
        connector: Connector,
        unknown_subject: SubjectRef,
        constraints_for: ConstraintsFor,
    ) -> None:
        problems = Problems()
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
        problems = Problems()
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
