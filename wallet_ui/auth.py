"""Signing citizens in and out: server-side sessions, rotation, failure-only rate limits."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from flask import session as cookie
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from consent.accounts import authenticate
from consent.crypto import token_hash
from consent.failures import blocked, record_failure
from consent.models import Subject
from wallet_ui.devices import UNKNOWN_DEVICE, Device
from wallet_ui.models import WalletSession

SESSION_LIFETIME = timedelta(hours=8)
#: How often a session's "last active" moves: at most one write every few minutes a browser.
ACTIVITY_STEP = timedelta(minutes=5)


class SignIn(StrEnum):
    """How a sign-in attempt went."""

    SIGNED_IN = "signed_in"
    #: Too many failures lately, for this account or from this address: not even checked.
    BLOCKED = "blocked"
    WRONG = "wrong"


def attempt_sign_in(
    session: Session,
    username: str,
    password: str,
    address: str,
    *,
    now: datetime,
    window: int,
    per_account: int,
    per_address: int,
    device: Device = UNKNOWN_DEVICE,
) -> SignIn:
    """Check the password, unless failures block it; sign in on success, count a failure."""
    if blocked(
        session,
        username,
        address,
        now=now,
        window=window,
        per_account=per_account,
        per_address=per_address,
    ):
        return SignIn.BLOCKED
    subject = authenticate(session, username, password) if username else None
    if subject is None:
        record_failure(session, username, address, now=now, window=window)
        return SignIn.WRONG
    start_session(session, subject, now=now, device=device)
    return SignIn.SIGNED_IN


def start_session(
    session: Session, subject: Subject, *, now: datetime, device: Device = UNKNOWN_DEVICE
) -> None:
    """Sign ``subject`` in: a fresh cookie (no fixation) bound to a new server-side row."""
    end_session(session)
    cookie.clear()
    session_id = secrets.token_urlsafe(32)
    session.add(
        WalletSession(
            id_hash=token_hash(session_id),
            subject_id=subject.id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
            last_seen_at=now,
            browser=device.browser,
            system=device.system,
        )
    )
    cookie["sid"] = session_id
    cookie.permanent = True


def end_session(session: Session) -> None:
    session_id = cookie.pop("sid", None)
    if session_id:
        session.execute(
            delete(WalletSession).where(WalletSession.id_hash == token_hash(session_id))
        )


def current_subject(session: Session, *, now: datetime) -> Subject | None:
    found = current_sign_in(session, now=now)
    return found[0] if found else None


def current_sign_in(session: Session, *, now: datetime) -> tuple[Subject, datetime | None] | None:
    """The citizen this browser's session belongs to, and when it was last active."""
    session_id = cookie.get("sid")
    if not session_id or not isinstance(session_id, str):
        return None
    row = session.execute(
        select(Subject, WalletSession.last_seen_at)
        .join(WalletSession, WalletSession.subject_id == Subject.id)
        .where(
            WalletSession.id_hash == token_hash(session_id),
            WalletSession.expires_at > now,
            Subject.erased_at.is_(None),
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


def is_stale(last_seen: datetime | None, now: datetime) -> bool:
    """Whether a session's "last active" is due to move (see :data:`ACTIVITY_STEP`)."""
    return last_seen is None or last_seen <= now - ACTIVITY_STEP


def seen_since(session: Session, *, now: datetime) -> bool:
    """Move this browser's "last active" to ``now``, unless it moved less than
    :data:`ACTIVITY_STEP` ago; whether it moved (the caller commits)."""
    session_id = cookie.get("sid")
    if not session_id or not isinstance(session_id, str):
        return False
    moved = session.execute(
        update(WalletSession)
        .where(
            WalletSession.id_hash == token_hash(session_id),
            or_(
                WalletSession.last_seen_at.is_(None),
                WalletSession.last_seen_at <= now - ACTIVITY_STEP,
            ),
        )
        .values(last_seen_at=now)
    )
    return bool(getattr(moved, "rowcount", 0))


def is_current(row: WalletSession) -> bool:
    """Whether ``row`` is the session of the browser making this request."""
    session_id = cookie.get("sid")
    return isinstance(session_id, str) and row.id_hash == token_hash(session_id)


def active_sessions(session: Session, subject: Subject, *, now: datetime) -> list[WalletSession]:
    """The subject's sessions not yet expired, the newest first."""
    return list(
        session.scalars(
            select(WalletSession)
            .where(WalletSession.subject_id == subject.id, WalletSession.expires_at > now)
            .order_by(WalletSession.created_at.desc(), WalletSession.id.desc())
        )
    )


def end_all_sessions(session: Session, subject: Subject) -> int:
    """Sign ``subject`` out of every browser, this one included; return how many ended."""
    cookie.pop("sid", None)
    ended = session.execute(delete(WalletSession).where(WalletSession.subject_id == subject.id))
    return int(getattr(ended, "rowcount", 0) or 0)
