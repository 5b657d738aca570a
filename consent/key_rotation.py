"""Seal every stored secret again under the current data key, after ``serdika keys rotate
--data`` made a new one current.

The broker opens values of any key version it still has (:class:`consent.crypto.Keyring`), so
this runs beside a serving broker: subjects are taken in primary-key order, a batch per
transaction, and each value is re-sealed with the context it was bound to. When it has run,
no value needs an older key any more.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.crypto import Keyring, subject_context
from consent.models import Subject
from consent.notifications import email_context

#: The sealed columns of a subject and the context each is bound to.
SEALED: dict[str, Callable[[int], bytes]] = {
    "national_id_ciphertext": subject_context,
    "pseudonym_key_ciphertext": subject_context,
    "email_ciphertext": email_context,
}


def reseal(
    session: Session,
    keyring: Keyring,
    *,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-seal what an older data key sealed; return how many values were renewed.

    Commits after each batch, so a long run holds no lock for long and can be resumed.
    """
    renewed = 0
    after = 0
    while True:
        subjects = session.scalars(
            select(Subject).where(Subject.id > after).order_by(Subject.id).limit(batch)
        ).all()
        if not subjects:
            return renewed
        for subject in subjects:
            for column, context_of in SEALED.items():
                sealed = getattr(subject, column)
                if sealed is None or keyring.is_current(sealed):
                    continue
                context = context_of(subject.id)
                setattr(subject, column, keyring.seal(keyring.open(sealed, context), context))
                renewed += 1
        after = subjects[-1].id
        session.commit()
        if progress is not None:
            progress(len(subjects))
