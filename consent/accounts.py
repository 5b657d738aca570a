"""Citizen accounts: creation with an encrypted national id, and password checks (argon2id).

A person whose parents answered for them as a child already has a subject, made by
:mod:`consent.guardianship` with :func:`add_subject` and :data:`NO_PASSWORD`; once of age,
they claim it as their own wallet (:func:`claim_ward`, through :func:`create_subject`).
"""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from commons import egn
from consent.crypto import Keyring, new_subject_key
from consent.models import Subject
from consent.types import utcnow
from consent.wards import is_ward_now, was_ever_ward

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")

MIN_PASSWORD_LENGTH = 10
#: The password hash of a subject nobody can sign in as (a child's, until claimed).
NO_PASSWORD = "!"  # noqa: S105 - matches no argon2 hash


class AccountError(ValueError):
    """A citizen account cannot be created as asked."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_subject(
    session: Session,
    keyring: Keyring,
    *,
    username: str,
    password_hash: str,
    national_id: str,
    locale: str = "bg",
) -> Subject:
    """Add a subject: the national id sealed and as a keyed blind index, a new pseudonym key.

    The caller checks that the username and the national id are free.
    """
    subject = Subject(
        username=username,
        password_hash=password_hash,
        locale=locale,
        national_id_index=keyring.blind_index(national_id),
    )
    session.add(subject)
    session.flush()  # the id binds the ciphertexts to this row
    context = b"subject:%d" % subject.id
    subject.national_id_ciphertext = keyring.seal(national_id.encode(), context)
    subject.pseudonym_key_ciphertext = keyring.seal(new_subject_key(), context)
    return subject


def create_subject(
    session: Session,
    keyring: Keyring,
    *,
    username: str,
    password: str,
    national_id: str,
    locale: str = "bg",
    now: datetime | None = None,
) -> Subject:
    """Create a citizen's wallet; the national id is stored encrypted and as a blind index.

    A person whose parents answered for them as a child already has a subject, with their
    consents (consent.guardianship): once they have come of age, this claims that subject
    as their own wallet; while they are a minor, it is refused.
    """
    if not egn.is_valid(national_id):
        raise AccountError("the national id is not a valid ЕГН")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(Subject.id).where(Subject.username == username)) is not None:
        raise AccountError(f"the username {username!r} is taken")
    existing = session.scalar(
        select(Subject).where(Subject.national_id_index == keyring.blind_index(national_id))
    )
    if existing is None:
        return add_subject(
            session,
            keyring,
            username=username,
            password_hash=hash_password(password),
            national_id=national_id,
            locale=locale,
        )
    return claim_ward(
        session,
        existing,
        username=username,
        password_hash=hash_password(password),
        locale=locale,
        now=now or utcnow(),
    )


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
    if (
        subject.password_hash != NO_PASSWORD
        or not was_ever_ward(session, subject.id)
        or subject.erased_at
    ):
        raise AccountError("a wallet for this national id exists already")
    if is_ward_now(session, subject.id, now):
        raise AccountError(
            "this person is a minor: their parents answer for them until their 18th "
            "birthday, when they can claim their own wallet"
        )
    subject.username = username
    subject.password_hash = password_hash
    subject.locale = locale
    return subject


def national_id(keyring: Keyring, subject: Subject) -> str | None:
    if subject.national_id_ciphertext is None:
        return None
    return keyring.open(subject.national_id_ciphertext, b"subject:%d" % subject.id).decode()


def authenticate(session: Session, username: str, password: str) -> Subject | None:
    """Return the subject when the password matches; spend the same time when it does not."""
    subject = session.scalar(
        select(Subject).where(Subject.username == username, Subject.erased_at.is_(None))
    )
    try:
        _hasher.verify(subject.password_hash if subject else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if subject is None:
        return None
    if _hasher.check_needs_rehash(subject.password_hash):
        subject.password_hash = hash_password(password)
    return subject
