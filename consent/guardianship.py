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

A guardianship is in force while ``ended_at`` is null and ``ends_at`` (the 18th birthday at
00:00 in Sofia) is still ahead, so control ends at the birthday even before
:func:`hand_over_due` records it. The consents stay where they are at the hand-over: the
now-adult child claims the subject as their own wallet (:func:`claim_ward`, reached through
``consent.accounts.create_subject``) and finds them there.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, CursorResult, Select, and_, select, update
from sqlalchemy.orm import Session

from commons import egn
from consent.accounts import AccountError, add_subject
from consent.crypto import Keyring, ledger_pseudonym
from consent.ledger.entries import LedgerEvent, append_entry
from consent.lifecycle import SubjectErased, subject_key
from consent.models import Guardianship, Subject

#: Birthdays are counted on the city's calendar.
CITY_TIMEZONE = ZoneInfo("Europe/Sofia")
#: The password hash of a subject nobody can sign in as (a child's, until claimed).
NO_PASSWORD = "!"  # noqa: S105 - matches no argon2 hash


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


#: Tells the child and the parent that the child now answers for themself (see below).
Notifier = Callable[..., None]


def notify_coming_of_age(
    session: Session, *, guardian_id: int, ward_id: int, now: datetime
) -> None:
    """Notify the child and the parent that the parent's control has ended (once each)."""
    # consent.notifications imports this module (for ``in_force``): imported here, not above.
    from consent.notifications import NotificationKind, notify

    for subject_id, role in ((ward_id, "ward"), (guardian_id, "guardian")):
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


def claim_ward(
    session: Session,
    subject: Subject,
    *,
    username: str,
    password_hash: str,
    locale: str,
    now: datetime,
) -> Subject:
    """Make a child's subject the wallet of the adult they have become.

    Raises :class:`AccountError` when the subject is someone's wallet already, or while a
    parent still answers for them.
    """
    was_ward = session.scalar(
        select(Guardianship.ward_subject_id)
        .where(Guardianship.ward_subject_id == subject.id)
        .limit(1)
    )
    if subject.password_hash != NO_PASSWORD or was_ward is None or subject.erased_at:
        raise AccountError("a wallet for this national id exists already")
    if (
        session.scalar(
            select(Guardianship.ward_subject_id)
            .where(Guardianship.ward_subject_id == subject.id, in_force(now))
            .limit(1)
        )
        is not None
    ):
        raise AccountError(
            "this person is a minor: their parents answer for them until their 18th "
            "birthday, when they can claim their own wallet"
        )
    subject.username = username
    subject.password_hash = password_hash
    subject.locale = locale
    return subject


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
