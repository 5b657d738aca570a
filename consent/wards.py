"""Which guardianships are in force: the children a parent may answer for, read from the store.

A guardianship is in force while ``ended_at`` is null and ``ends_at`` (the child's 18th
birthday at 00:00 in Sofia) is still ahead, so a parent's control ends at the birthday even
before :func:`consent.guardianship.hand_over_due` records it. These are the reads every other
module builds on (accounts, notifications, the wallet); the writes that keep guardianships in
step with the registry are :mod:`consent.guardianship`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from commons import egn
from consent.models import Guardianship, Subject

#: Birthdays are counted on the city's calendar.
CITY_TIMEZONE = ZoneInfo("Europe/Sofia")


@dataclass(frozen=True)
class Child:
    """A minor child in a parent's care, named when the registry told their names."""

    subject_id: int
    birth_date: date
    ends_at: datetime
    given_name: str | None = None
    family_name: str | None = None

    @property
    def name(self) -> str | None:
        """The child's given and family names, when the registry told them."""
        if self.given_name is None:
            return None
        return f"{self.given_name} {self.family_name or ''}".strip()


def coming_of_age_at(born: date) -> datetime:
    """The moment a child born on ``born`` comes of age: 00:00 in Sofia on the 18th birthday."""
    return datetime.combine(egn.coming_of_age(born), time(0), tzinfo=CITY_TIMEZONE).astimezone(UTC)


def in_force(now: datetime) -> ColumnElement[bool]:
    """The guardianships in force at ``now``: not ended, and the child not yet of age."""
    return and_(Guardianship.ended_at.is_(None), Guardianship.ends_at > now)


def wards_in_force(guardian_id: int, now: datetime) -> Select[Any]:
    """The subject ids of the children ``guardian_id`` may act for at ``now`` (a subquery)."""
    return select(Guardianship.ward_subject_id).where(
        Guardianship.guardian_subject_id == guardian_id, in_force(now)
    )


def wards_of(session: Session, guardian: Subject | int, now: datetime) -> list[Guardianship]:
    """The guardianships of ``guardian`` in force at ``now``, the eldest child first."""
    guardian_id = guardian if isinstance(guardian, int) else guardian.id
    return list(
        session.scalars(
            select(Guardianship)
            .where(Guardianship.guardian_subject_id == guardian_id, in_force(now))
            .order_by(Guardianship.ends_at, Guardianship.ward_subject_id)
        )
    )


def may_act_for(session: Session, guardian_id: int, ward_id: int, now: datetime) -> bool:
    """Whether ``guardian_id`` may answer for ``ward_id`` at ``now``."""
    return (
        session.scalar(
            wards_in_force(guardian_id, now).where(Guardianship.ward_subject_id == ward_id)
        )
        is not None
    )


def is_ward_now(session: Session, subject_id: int, now: datetime) -> bool:
    """Whether a parent answers for ``subject_id`` at ``now`` (they are a minor in care)."""
    return (
        session.scalar(
            select(Guardianship.ward_subject_id)
            .where(Guardianship.ward_subject_id == subject_id, in_force(now))
            .limit(1)
        )
        is not None
    )


def was_ever_ward(session: Session, subject_id: int) -> bool:
    """Whether a parent ever answered for ``subject_id`` (their subject began as a child's)."""
    return (
        session.scalar(
            select(Guardianship.ward_subject_id)
            .where(Guardianship.ward_subject_id == subject_id)
            .limit(1)
        )
        is not None
    )
