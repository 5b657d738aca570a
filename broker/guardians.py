"""A parent's minor children, read from the configured registry for the wallet.

The glue between :mod:`consent.guardianship` (the rules) and the connector named by
``SERDIKA_GUARDIANSHIP_SOURCE`` (default ``civil_registry``), whose ``wards`` resource lists a
parent's minor children with their national ids. The app factory hands it
to the wallet as its guardianship reader (``wallet_ui.ports.GuardianshipReader``).

A registry read costs a round trip, so each process remembers a parent's answer for a few
minutes (:data:`FRESH_FOR`) and a failure for less (:data:`RETRY_AFTER`). Access is never
decided from this memory: :func:`consent.guardianship.may_act_for` reads the store. The
children's names are only kept here, never stored: a child whose name is not known (the
registry did not answer since this process started) is named by their birth date.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commons import egn
from connectors.base import ConnectorError, SubjectNotFound, SubjectRef
from connectors.registry import ConnectorRegistry
from consent.accounts import national_id
from consent.crypto import Keyring
from consent.guardianship import RegistryChild, sync_wards
from consent.models import Subject
from consent.wards import Child, wards_of

log = logging.getLogger(__name__)

#: The registry's resource and field that list a parent's minor children.
RESOURCE = "wards"
#: Seconds a registry answer is reused; a failed read is tried again after RETRY_AFTER.
FRESH_FOR = 300.0
RETRY_AFTER = 60.0
#: Parents remembered per process, the least recently used forgotten first.
REMEMBERED = 4096


@dataclass
class _Answer:
    fresh_until: float
    answered: bool
    children: dict[int, RegistryChild] = field(default_factory=dict)


class Guardians:
    """Reads parents' minor children from the registry and keeps guardianships in step."""

    def __init__(self, connectors: ConnectorRegistry, keyring: Keyring, source: str) -> None:
        self.connectors = connectors
        self.keyring = keyring
        self.source = source
        self._answers: OrderedDict[int, _Answer] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether the configured source lists children at all."""
        description = self.connectors.catalogue.get(self.source)
        return description is not None and RESOURCE in description.resources

    def refresh(self, db: Any, guardian: Subject, *, now: datetime) -> bool:
        """Bring ``guardian``'s guardianships in step with the registry, unless done lately.

        Returns False when the registry could not be read (the wallet says so calmly); the
        guardianships already recorded stay as they are then.
        """
        if not self.enabled:
            return True
        remembered = self._remembered(guardian.id)
        if remembered is not None and remembered.fresh_until > time.monotonic():
            return remembered.answered
        children = self._read(guardian)
        if children is None:
            self._remember(
                guardian.id,
                _Answer(
                    time.monotonic() + RETRY_AFTER, False, remembered.children if remembered else {}
                ),
            )
            return False
        if children or wards_of(db.session, guardian, now):
            for attempt in range(2):
                try:
                    with db.writing() as session:
                        listed = sync_wards(
                            session, self.keyring, session.merge(guardian), children, now=now
                        )
                    break
                except IntegrityError:
                    # Another parent's wallet created the same child's subject just now.
                    if attempt:
                        raise
        else:
            listed = {}
        self._remember(guardian.id, _Answer(time.monotonic() + FRESH_FOR, True, listed))
        return True

    def children(self, session: Session, guardian: Subject, *, now: datetime) -> list[Child]:
        """The children ``guardian`` may act for at ``now``, the eldest first, named if known."""
        remembered = self._remembered(guardian.id)
        known = remembered.children if remembered else {}
        found = []
        for row in wards_of(session, guardian, now):
            child = known.get(row.ward_subject_id)
            if child is not None:
                found.append(
                    Child(
                        row.ward_subject_id,
                        child.birth_date,
                        row.ends_at,
                        child.given_name,
                        child.family_name,
                    )
                )
                continue
            ward = session.get(Subject, row.ward_subject_id)
            number = national_id(self.keyring, ward) if ward else None
            if number is not None:
                found.append(Child(row.ward_subject_id, egn.birth_date(number), row.ends_at))
        return found

    def forget(self, guardian_id: int) -> None:
        """Read the registry again next time (a test, or after the household changed)."""
        with self._lock:
            self._answers.pop(guardian_id, None)

    def _read(self, guardian: Subject) -> list[RegistryChild] | None:
        """The registry's list of ``guardian``'s minor children; None if it did not answer."""
        number = national_id(self.keyring, guardian)
        if number is None:
            return []
        try:
            answer = self.connectors[self.source].fetch(SubjectRef(number), RESOURCE, [RESOURCE])
        except SubjectNotFound:
            return []
        except ConnectorError as exc:
            # The type only: a message may quote the identifier it looked up.
            log.warning(
                "guardianship read failed: connector=%s error=%s", self.source, type(exc).__name__
            )
            return None
        children = []
        for record in answer.get(RESOURCE) or []:
            try:
                children.append(RegistryChild.from_record(record))
            except (KeyError, TypeError, ValueError):
                log.warning("guardianship read: connector=%s gave an unusable record", self.source)
        return children

    def _remembered(self, guardian_id: int) -> _Answer | None:
        with self._lock:
            answer = self._answers.get(guardian_id)
            if answer is not None:
                self._answers.move_to_end(guardian_id)
            return answer

    def _remember(self, guardian_id: int, answer: _Answer) -> None:
        with self._lock:
            self._answers[guardian_id] = answer
            self._answers.move_to_end(guardian_id)
            while len(self._answers) > REMEMBERED:
                self._answers.popitem(last=False)
