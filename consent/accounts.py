"""Citizen accounts: creation with an encrypted national id, and password checks (argon2id)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import egn
from consent.crypto import Keyring, new_subject_key
from consent.models import Subject

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A citizen account cannot be created as asked."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_subject(
    session: Session,
    keyring: Keyring,
    *,
    username: str,
    password: str,
    national_id: str,
    locale: str = "bg",
) -> Subject:
    """Create a citizen; the national id is stored encrypted and as a keyed blind index."""
    if not egn.is_valid(national_id):
        raise AccountError("the national id is not a valid ЕГН")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(Subject.id).where(Subject.username == username)) is not None:
        raise AccountError(f"the username {username!r} is taken")
    index = keyring.blind_index(national_id)
    if session.scalar(select(Subject.id).where(Subject.national_id_index == index)) is not None:
        raise AccountError("a wallet for this national id exists already")
    subject = Subject(
        username=username,
        password_hash=hash_password(password),
        locale=locale,
        national_id_index=index,
    )
    session.add(subject)
    session.flush()  # the id binds the ciphertexts to this row
    context = b"subject:%d" % subject.id
    subject.national_id_ciphertext = keyring.seal(national_id.encode(), context)
    subject.pseudonym_key_ciphertext = keyring.seal(new_subject_key(), context)
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
