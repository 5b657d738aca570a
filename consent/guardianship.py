"""Parents acting for their minor children, until the child comes of age.

A parent, as the civil registry records the household, answers in their own wallet the
requests about their minor child's data. The child gets a subject of their own the first time
a parent's wallet learns of them (:func:`sync_wards`): no password (``"!"`` matches no hash),
the national id sealed as for any citizen. The child's consents are that subject's consents;
``Consent.decided_by_subject_id`` names the parent who answered.

::

    registry lists the child ──sync_wards──▶ in force ──18th birthday──▶ ended (hand_over_due)
                                                │
                                                └──registry no longer lists them──▶ ended

Which guardianships are in force (until the 18th birthday at 00:00 in Sofia, even before
:func:`hand_over_due` records it) is read through :mod:`consent.wards`. The consents stay
where they are at the hand-over: the now-adult child claims the subject as their own wallet
(:func:`consent.accounts.claim_ward`, reached through ``consent.accounts.create_subject``)
and finds them there.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from commons import egn
from consent.accounts import NO_PASSWORD, add_subject
from consent.crypto import Keyring, ledger_pseudonym
from consent.ledger.entries import LedgerEvent, append_entry
from consent.lifecycle import SubjectErased, subject_key
from consent.models import Guardianship, Subject
from consent.notifications import NotificationKind, notify
from consent.wards import coming_of_age_at, wards_of


@dataclass(frozen=True)
class RegistryChild:
    """A minor child of the guardian, as the civil registry's ``wards`` resource gives them."""

    national_id: str
    given_name: str
    family_name: str
    birth_date: date
    middle_name: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RegistryChild:
        """Read one record of the registry; raise ValueError when it is not usable."""
        national_id = str(record["national_id"])
        if not egn.is_valid(national_id):
            raise ValueError("not a valid ЕГН")
        return cls(
            national_id=national_id,
            given_name=str(record["given_name"]),
            family_name=str(record["family_name"]),
            birth_date=date.fromisoformat(str(record["birth_date"])),
            middle_name=record.get("middle_name") or None,
        )


def ward_subject(session: Session, keyring: Keyring, national_id: str) -> Subject:
    """Find the subject of the person with ``national_id``, or create one nobody signs in as."""
    subject = session.scalar(
        select(Subject).where(Subject.national_id_index == keyring.blind_index(national_id))
    )
    if subject is not None:
        return subject
    return add_subject(
        session,
        keyring,
        username=f"ward-{secrets.token_hex(8)}",
        password_hash=NO_PASSWORD,
        national_id=national_id,
    )


def sync_wards(
    session: Session,
    keyring: Keyring,
    guardian: Subject,
    children: Sequence[RegistryChild],
    *,
    now: datetime,
) -> dict[int, RegistryChild]:
    """Bring the guardian's guardianships in step with the registry's list of their children.

    Each minor child gets a subject and a guardianship in force until their 18th birthday;
    a guardianship in force whose child the registry no longer lists ends now, with a ledger
    entry. Returns the children by subject id. Writes only what changed; the caller commits.
    """
    listed: dict[int, RegistryChild] = {}
    for child in children:
        ends_at = coming_of_age_at(child.birth_date)
        if ends_at <= now:
            continue  # of age: they answer for themself
        ward = ward_subject(session, keyring, child.national_id)
        if ward.id == guardian.id:
            continue
        listed[ward.id] = child
        row = session.get(Guardianship, (guardian.id, ward.id))
        if row is None:
            session.add(
                Guardianship(
                    guardian_subject_id=guardian.id,
                    ward_subject_id=ward.id,
                    started_at=now,
                    ends_at=ends_at,
                )
            )
        elif row.ended_at is not None:
            row.started_at, row.ends_at, row.ended_at = now, ends_at, None
        elif row.ends_at != ends_at:
            row.ends_at = ends_at  # the registry corrected the birth date
    for row in wards_of(session, guardian, now):
        if row.ward_subject_id not in listed:
            _end(session, keyring, row, now=now, reason="registry")
    session.flush()
    return listed


class HandOverRole(StrEnum):
    """Whom a coming-of-age notice is for (its ``details["role"]``)."""

    WARD = "ward"
    GUARDIAN = "guardian"


#: Tells the child and the parent that the child now answers for themself (see below).
Notifier = Callable[..., None]


def notify_coming_of_age(
    session: Session, *, guardian_id: int, ward_id: int, now: datetime
) -> None:
    """Notify the child and the parent that the parent's control has ended (once each)."""
    for subject_id, role in ((ward_id, HandOverRole.WARD), (guardian_id, HandOverRole.GUARDIAN)):
        notify(
            session,
            subject_id=subject_id,
            kind=NotificationKind.COMING_OF_AGE,
            dedupe_key=f"coming-of-age:{ward_id}",
            details={"role": role},
            now=now,
            include_guardians=False,
        )


def hand_over_due(
    session: Session,
    keyring: Keyring,
    *,
    now: datetime,
    notify: Notifier = notify_coming_of_age,
    batch: int = 500,
) -> int:
    """End the guardianships whose child has come of age; return how many ended.

    Each gets a ``guardianship:ended`` ledger entry and notices to the child and the parent.
    The update is conditional, so two runs at once end each guardianship once; a second run
    finds nothing to do. Commits after each batch.
    """
    count = 0
    while True:
        due = session.scalars(
            select(Guardianship)
            .where(Guardianship.ended_at.is_(None), Guardianship.ends_at <= now)
            .order_by(Guardianship.ends_at)
            .limit(batch)
        ).all()
        for row in due:
            if _end(session, keyring, row, now=now, reason="coming_of_age"):
                notify(
                    session,
                    guardian_id=row.guardian_subject_id,
                    ward_id=row.ward_subject_id,
                    now=now,
                )
                count += 1
        session.commit()
        if len(due) < batch:
            return count


def end_guardianships_of(
    session: Session, keyring: Keyring, guardian: Subject, *, now: datetime
) -> int:
    """End every guardianship ``guardian`` holds (their account is being erased)."""
    rows = session.scalars(
        select(Guardianship).where(
            Guardianship.guardian_subject_id == guardian.id, Guardianship.ended_at.is_(None)
        )
    ).all()
    return sum(_end(session, keyring, row, now=now, reason="guardian_erased") for row in rows)


def _end(
    session: Session, keyring: Keyring, row: Guardianship, *, now: datetime, reason: str
) -> bool:
    """End one guardianship in force, with its ledger entry; False if it had ended already."""
    changed = cast(
        CursorResult[Any],
        session.execute(
            update(Guardianship)
            .where(
                Guardianship.guardian_subject_id == row.guardian_subject_id,
                Guardianship.ward_subject_id == row.ward_subject_id,
                Guardianship.ended_at.is_(None),
            )
            .values(ended_at=now)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if changed != 1:
        return False
    row.ended_at = now
    append_entry(
        session,
        LedgerEvent.GUARDIANSHIP_ENDED,
        at=now,
        details={
            "guardian": _pseudonym(session, keyring, row.guardian_subject_id),
            "ward": _pseudonym(session, keyring, row.ward_subject_id),
            "reason": reason,
            "ends": row.ends_at.isoformat(),
        },
    )
    return True


def _pseudonym(session: Session, keyring: Keyring, subject_id: int) -> str:
    subject = session.get(Subject, subject_id)
    try:
        return ledger_pseudonym(subject_key(keyring, subject)) if subject else "erased"
    except SubjectErased:
        return "erased"
