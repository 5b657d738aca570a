"""http_json's circuit breaker: pybreaker's state, without holding its lock during a call.

pybreaker's ``call()`` holds a lock for the whole guarded call (danielfm/pybreaker#3), which
would let one read at a time reach the upstream; so each attempt is admitted and its outcome
recorded in two short steps, and the upstream is called in between without a lock.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import pybreaker

from connectors.base import SourceUnavailable

#: The package's logger, whatever module logs: operators configure ``connectors.http_json``.
log = logging.getLogger("connectors.http_json")


class _Outcome(Exception):
    """A failed attempt, replayed into pybreaker's state machine."""


def _succeed() -> None:
    return None


def _fail() -> NoReturn:
    raise _Outcome


class Breaker:
    """pybreaker's state, consulted before an attempt and told its outcome after it."""

    def __init__(self, failures: int, reset: float) -> None:
        self._storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=failures, reset_timeout=reset, state_storage=self._storage
        )
        self._lock = threading.Lock()
        self._trial_running = False

    def _until_half_open(self) -> float:
        opened_at = self._storage.opened_at or datetime.now(UTC)
        reopens = opened_at + timedelta(seconds=self._breaker.reset_timeout)
        return (reopens - datetime.now(UTC)).total_seconds()

    def admit(self) -> bool:
        """Let an attempt through, or raise; True when it is the half-open circuit's trial."""
        with self._lock:
            state = self._breaker.current_state
            if state == pybreaker.STATE_OPEN:
                wait = self._until_half_open()
                if wait > 0:
                    raise SourceUnavailable(
                        "the upstream kept failing; the broker is not calling it for now",
                        retry_after=max(1, math.ceil(wait)),
                    )
                self._breaker.half_open()
                state = pybreaker.STATE_HALF_OPEN
            if state == pybreaker.STATE_HALF_OPEN:
                if self._trial_running:
                    raise SourceUnavailable(
                        "the upstream kept failing; a trial call is under way", retry_after=1
                    )
                self._trial_running = True
                return True
            return False

    def record(self, trial: bool, failed: bool | None) -> None:
        """Count the attempt's outcome; ``None`` says nothing about the upstream."""
        with self._lock:
            if trial:
                self._trial_running = False
            elif self._breaker.current_state != pybreaker.STATE_CLOSED:
                return  # admitted before the circuit opened: the trial decides now
            if failed is None:
                return
            with contextlib.suppress(pybreaker.CircuitBreakerError, _Outcome):
                self._breaker.call(_fail if failed else _succeed)
            if failed and self._breaker.current_state == pybreaker.STATE_OPEN:
                log.warning("http_json: circuit opened after repeated upstream failures")
