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

from connectors.contract.description import DescriptionChecks
from connectors.contract.reads import ReadChecks
from connectors.contract.safety import SafetyChecks

__all__ = ["ConnectorContract"]


class ConnectorContract(DescriptionChecks, ReadChecks, SafetyChecks):
    """The checks every connector passes; subclass it as ``Test...`` and add the fixtures.

    Required fixtures: ``connector``, ``subject``, ``other_subject`` (see the module's
    documentation). Optional: ``unknown_subject``, ``constraints_for``,
    ``unavailable_connector``.
    """
