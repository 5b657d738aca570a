"""What each connected source holds about a citizen, read for that citizen alone (GDPR Art. 15).

The wallet's "My data" page and the data export ask :class:`OwnDataReader` for every resource
of every configured connector, all fields, for the signed-in citizen. The reads run in a small
pool shared by the whole broker (so a burst of page views cannot start unbounded threads),
under one overall deadline; each connector still applies its own timeouts. A source that is
down, slow past the deadline, answers with unusable data or holds no record of the citizen
gives an :class:`Outcome` for that resource, never an exception, so the other sources are
still shown.

The citizen's own view is not written to the consent ledger. The ledger records the
decisions of the citizen and the reads of *services* under a consent, so that the citizen and
auditors can hold services to account; a citizen looking at their own data discloses nothing
to anyone, involves no consent, and an append-only log of when a person looked at their own
records is itself personal data nobody needs (data minimisation, Art. 5(1)(c)): it could never
be erased. The operator's log gets one line per failed read, naming the connector, the
resource and the error's type, never the citizen or a value.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from connectors.base import (
    BadUpstreamData,
    ConnectorDescription,
    ConnectorError,
    Constraints,
    Granularity,
    ResourceDescription,
    SourceTimeout,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
)
from connectors.limits import enforce
from connectors.registry import ConnectorRegistry
from consent.accounts import national_id
from consent.crypto import Keyring
from consent.models import Subject

log = logging.getLogger(__name__)

#: Reads running at once for all citizens together, on one broker process.
WORKERS = 8
#: Seconds for all the sources of one citizen; a source still reading then is "unavailable".
DEADLINE = 8.0
#: A time series is shown as monthly totals of this many whole months, the newest last.
SERIES_MONTHS = 12
#: Other dated records (tax years, payments) are shown for this many calendar years back.
RECORD_YEARS = 5


class Outcome(StrEnum):
    """What came of reading one resource."""

    READ = "read"
    #: The source holds no record of the citizen for this resource.
    NOT_FOUND = "not_found"
    #: The source is down, refused, timed out, or did not answer before the deadline.
    UNAVAILABLE = "unavailable"
    #: The source answered with data of an unexpected shape; nothing of it is shown.
    UNUSABLE = "unusable"


@dataclass(frozen=True)
class ResourceRead:
    """One resource of one source, read for the citizen: all its fields, or why not."""

    connector: str
    resource: str
    description: ResourceDescription
    outcome: Outcome
    window: Constraints = field(default_factory=Constraints)
    data: Mapping[str, Any] = field(default_factory=dict)

    def window_json(self) -> dict[str, str]:
        """The dated window read (``from``, ``to``, ``granularity``), as the data API says it."""
        found: dict[str, str] = {}
        if self.window.date_from is not None and self.window.date_to is not None:
            found = {
                "from": self.window.date_from.isoformat(),
                "to": self.window.date_to.isoformat(),
            }
        if self.window.granularity is not None:
            found["granularity"] = self.window.granularity.value
        return found


@dataclass(frozen=True)
class SourceRead:
    """Every resource of one configured source, in the order the source describes them."""

    connector: str
    description: ConnectorDescription
    resources: tuple[ResourceRead, ...]

    @property
    def outcome(self) -> Outcome:
        """READ if anything was read; else UNAVAILABLE if any failed; else NOT_FOUND."""
        outcomes = {read.outcome for read in self.resources}
        if Outcome.READ in outcomes:
            return Outcome.READ
        if outcomes & {Outcome.UNAVAILABLE, Outcome.UNUSABLE}:
            return Outcome.UNAVAILABLE
        return Outcome.NOT_FOUND


def own_window(resource: ResourceDescription, today: date) -> Constraints:
    """The window the citizen sees by default: the last months of a series, years of records.

    A time series is read monthly (or at its coarsest granularity) over the last
    :data:`SERIES_MONTHS` whole months; other dated records from 1 January
    :data:`RECORD_YEARS` years back. Connectors return only periods wholly inside, so the
    month in progress is left out of a series.
    """
    if not resource.dated:
        return Constraints()
    if resource.granularities:
        granularity = (
            Granularity.MONTHLY
            if Granularity.MONTHLY in resource.granularities
            else max(resource.granularities, key=lambda g: g.rank)
        )
        first = today.replace(day=1)
        for _ in range(SERIES_MONTHS):
            first = (first - timedelta(days=1)).replace(day=1)
        return Constraints(date_from=first, date_to=today, granularity=granularity)
    return Constraints(date_from=date(today.year - RECORD_YEARS, 1, 1), date_to=today)


class OwnDataReader:
    """Reads everything the configured sources hold about one citizen, for that citizen."""

    def __init__(
        self,
        connectors: ConnectorRegistry,
        keyring: Keyring,
        *,
        workers: int = WORKERS,
        deadline: float = DEADLINE,
    ) -> None:
        self.connectors = connectors
        self.keyring = keyring
        self.workers = workers
        self.deadline = deadline
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        # Made on first use, so a server that forks its workers after loading the app starts
        # the threads in each worker, not in the parent.
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="own-data")
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def read(self, subject: Subject, *, today: date) -> list[SourceRead]:
        """Read every resource of every source for ``subject``; never raises for a source."""
        sealed = national_id(self.keyring, subject)
        reference = SubjectRef(sealed) if sealed is not None else None
        catalogue = self.connectors.catalogue
        planned: list[tuple[str, str, ResourceDescription, Constraints]] = [
            (connector, name, resource, own_window(resource, today))
            for connector, description in catalogue.items()
            for name, resource in description.resources.items()
        ]
        futures: dict[tuple[str, str], Future[Mapping[str, Any]]] = {}
        if reference is not None:
            pool = self._executor()
            for connector, name, resource, window in planned:
                futures[connector, name] = pool.submit(
                    self._fetch, connector, name, resource, window, reference
                )
            wait_for(futures.values(), timeout=self.deadline)
        results: dict[str, list[ResourceRead]] = {name: [] for name in catalogue}
        for connector, name, resource, window in planned:
            future = futures.get((connector, name))
            outcome, data = self._outcome(connector, name, future)
            results[connector].append(
                ResourceRead(connector, name, resource, outcome, window, data)
            )
        return [SourceRead(name, catalogue[name], tuple(reads)) for name, reads in results.items()]

    def _fetch(
        self,
        connector: str,
        resource: str,
        description: ResourceDescription,
        window: Constraints,
        reference: SubjectRef,
    ) -> Mapping[str, Any]:
        fields = list(description.fields)
        return enforce(
            description,
            fields,
            window,
            self.connectors[connector].fetch(reference, resource, fields, window),
        )

    @staticmethod
    def _outcome(
        connector: str, resource: str, future: Future[Mapping[str, Any]] | None
    ) -> tuple[Outcome, Mapping[str, Any]]:
        if future is None:  # no national identifier: no source can know the citizen
            return Outcome.NOT_FOUND, {}
        if not future.done():
            future.cancel()  # not started yet: it never will; started: its result is dropped
            log.warning(
                "own data read failed: connector=%s resource=%s error=deadline", connector, resource
            )
            return Outcome.UNAVAILABLE, {}
        error = future.exception()
        if error is None:
            return Outcome.READ, future.result()
        if isinstance(error, SubjectNotFound):
            return Outcome.NOT_FOUND, {}
        # The type only: an unexpected error's message may quote the identifier it looked up.
        log.warning(
            "own data read failed: connector=%s resource=%s error=%s",
            connector,
            resource,
            type(error).__name__,
        )
        if isinstance(error, SourceUnavailable | SourceTimeout):
            return Outcome.UNAVAILABLE, {}
        if isinstance(error, BadUpstreamData | ConnectorError):
            return Outcome.UNUSABLE, {}
        return Outcome.UNAVAILABLE, {}
