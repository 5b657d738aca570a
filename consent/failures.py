"""Failed authentications, counted so that guessing is slow and nobody else is kept out.

Citizens signing in to the wallet and services authenticating at the token endpoint are
counted alike: under hashed keys of the account, the address and the pair, in a window. Only
failures count, never successes, and only an address that has been failing is ever refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from consent.models import AuthenticationFailure


def failure_keys(account: str, address: str) -> tuple[str, str, str]:
    """The keys failures are counted under: the account, the address, and the pair."""
    # Hashed, so the table holds no usernames or addresses in clear.
    name = account.casefold().encode()
    user = hashlib.sha256(b"user\x00" + name).hexdigest()[:40]
    addr = hashlib.sha256(b"addr\x00" + address.encode()).hexdigest()[:40]
    pair = hashlib.sha256(b"pair\x00" + name + b"\x00" + address.encode()).hexdigest()[:40]
    return "u:" + user, "a:" + addr, "p:" + pair


def blocked(
    session: Session,
    account: str,
    address: str,
    *,
    now: datetime,
    window: int,
    per_account: int,
    per_address: int,
) -> bool:
    """Whether this address may not try this account now.

    Only an address that has been failing is ever kept out, so no stranger can lock a citizen
    (or a service) out:

    - ``per_account`` failures for the account from this address block the pair;
    - ``per_address`` failures from the address, for any accounts, block the address;
    - once the account has ``per_account`` failures from anywhere (a guess spread over many
      addresses), every address that has failed for it once waits out the window: the guessing
      slows to one try per address, while the citizen's own address, which has not failed,
      signs in as always.
    """
    user_key, addr_key, pair_key = failure_keys(account, address)
    since = now - timedelta(seconds=window)
    counts = dict(
        session.execute(
            select(AuthenticationFailure.key, func.count())
            .where(
                AuthenticationFailure.key.in_((user_key, addr_key, pair_key)),
                AuthenticationFailure.at > since,
            )
            .group_by(AuthenticationFailure.key)
        ).all()
    )
    pair, for_account = counts.get(pair_key, 0), counts.get(user_key, 0)
    return (
        pair >= per_account
        or counts.get(addr_key, 0) >= per_address
        or (for_account >= per_account and pair >= 1)
    )


def record_failure(
    session: Session, account: str, address: str, *, now: datetime, window: int
) -> None:
    session.execute(
        delete(AuthenticationFailure).where(
            AuthenticationFailure.at <= now - timedelta(seconds=window)
        )
    )
    session.add_all(
        [AuthenticationFailure(key=key, at=now) for key in failure_keys(account, address)]
    )
