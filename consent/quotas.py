"""Frequency limits ("at most once a day"), counted per consent and resource.

Each granted resource with a ``frequency`` constraint has one :class:`~consent.models.ReadQuota`
row, created with the consent. A read takes a unit with one conditional ``UPDATE`` that either
starts a new window (the previous one has ended) or counts within the current one while
reads remain, so concurrent reads from any number of workers can never exceed the limit.
A read that then fails at the source gives its unit back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.orm import Session

from consent.constraints import GrantedLimits
from consent.models import Consent, ReadQuota
from consent.types import UTCDateTime

#: Window start of a quota that has never been used: any read starts a fresh window.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)

_THIS_QUOTA = and_(
    ReadQuota.consent_id == bindparam("consent_id"),
    ReadQuota.connector == bindparam("connector"),
    ReadQuota.resource == bindparam("resource"),
)
_WINDOW_OVER = ReadQuota.window_started_at <= bindparam("cutoff", type_=UTCDateTime())

TAKE = (
    update(ReadQuota)
    .where(_THIS_QUOTA, or_(_WINDOW_OVER, ReadQuota.reads < bindparam("max_reads")))
    .values(
        window_started_at=case(
            (_WINDOW_OVER, bindparam("now", type_=UTCDateTime())),
            else_=ReadQuota.window_started_at,
        ),
        reads=case((_WINDOW_OVER, 1), else_=ReadQuota.reads + 1),
    )
)
GIVE_BACK = (
    update(ReadQuota).where(_THIS_QUOTA, ReadQuota.reads > 0).values(reads=ReadQuota.reads - 1)
)
WINDOW_STARTED = select(ReadQuota.window_started_at).where(_THIS_QUOTA)


def create_quotas(session: Session, consent: Consent) -> None:
    """Add the counters of a consent's frequency-limited resources that have none yet (a new
    consent's, or those an amendment adds; counters already running keep their count)."""
    for item in consent.scope:
        key = (consent.id, item["connector"], item["resource"])
        if (
            GrantedLimits.stored(item.get("constraints")).frequency is not None
            and session.get(ReadQuota, key) is None
        ):
            session.add(
                ReadQuota(
                    consent_id=consent.id,
                    connector=item["connector"],
                    resource=item["resource"],
                    window_started_at=NEVER,
                    reads=0,
                )
            )


def take_parameters(
    consent_id: str,
    connector: str,
    resource: str,
    max_reads: int,
    period: timedelta,
    now: datetime,
) -> dict[str, object]:
    """The bound values of :data:`TAKE` for one read at ``now``."""
    return {
        "consent_id": consent_id,
        "connector": connector,
        "resource": resource,
        "max_reads": max_reads,
        "cutoff": now - period,
        "now": now,
    }


def seconds_until_next_window(
    window_started_at: datetime | None, period: timedelta, now: datetime
) -> int:
    """Whole seconds until the current window ends (at least one)."""
    if window_started_at is None:
        return 1
    remaining = window_started_at + period - now
    return max(1, int(remaining.total_seconds() + 0.999))
