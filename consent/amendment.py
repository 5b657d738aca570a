"""A service asks again for the same purpose: the consent that stands is amended, not doubled.

A citizen never holds two consents in force for one service and one purpose (GDPR Art. 7:
one consent a purpose, which the citizen can see and withdraw as one). When a service asks
again, the request page shows what would change (:func:`change_of`: fields added and
removed, the new end) and an "allow" amends the consent that stands
(:func:`amend_consent`): its scope and end become the new ones, its id stays, a
``consent:amended`` entry and an ``amendment`` receipt record it, and a paused consent is
resumed, since the citizen has just allowed the access again. A "deny" leaves it as it was.

Old tokens of the consent keep working: every decision reads the consent's live scope, so a
field removed is refused at once, and a field added is readable by the tokens already issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from commons.clock import city_zone
from consent.constraints import GrantedLimits
from consent.ledger.entries import LedgerEvent, append_entry
from consent.lifecycle import (
    Actor,
    DomainContext,
    InvalidTransition,
    ServiceRef,
    issue_receipt,
    resume_consent,
    scope_limits,
    scope_names,
)
from consent.models import Consent, ConsentStatus, Subject
from consent.quotas import create_quotas
from consent.receipts import ReceiptKind
from consent.requests import AccessRequest, ScopeItem, duration_end

#: The statuses of a consent that stands: in force, or paused within its term.
STANDING = (ConsentStatus.ACTIVE, ConsentStatus.PAUSED)


@dataclass(frozen=True)
class GrantTarget:
    """A request naming the consent it changes (Grant Management's ``grant_id``): ``update``
    merges what it asks for into the consent, ``replace`` supersedes the consent's scope and
    ends its earlier tokens."""

    consent_id: str
    replace: bool = False


class TargetNotStanding(LookupError):
    """The consent a request names is not the citizen's, or no longer stands."""


@dataclass(frozen=True)
class Change:
    """What an "allow" would change in the consent that stands."""

    consent: Consent
    #: Fields the request adds, as ``(connector, resource, field)``, in the request's order.
    added: tuple[tuple[str, str, str], ...]
    #: Fields the consent has and the request no longer asks for.
    removed: tuple[tuple[str, str, str], ...]
    previous_end: datetime | None
    end: datetime
    #: True when a resource's limits (dates, granularity, frequency) differ.
    limits_changed: bool
    #: True when the consent is paused: allowing resumes it.
    resumes: bool

    @property
    def end_moves(self) -> bool:
        """True when the consent would end on another day of the city's calendar."""
        if self.previous_end is None:
            return True
        zone = city_zone()
        return self.end.astimezone(zone).date() != self.previous_end.astimezone(zone).date()

    @property
    def changes_anything(self) -> bool:
        return bool(
            self.added or self.removed or self.limits_changed or self.resumes or self.end_moves
        )


def standing_consent(
    session: Session,
    *,
    subject_id: int,
    service_id: int,
    purpose: str,
    now: datetime,
    lock: bool = False,
) -> Consent | None:
    """The consent in force (or paused within its term) of this subject, service and purpose.

    Found by the subject's index (``ix_consents_subject_status``); a citizen holds few. With
    ``lock``, the subject's row is locked first, so two answers of one citizen (two tabs, two
    devices) are taken one after the other and the second finds the first's consent.
    """
    if lock:
        session.execute(select(Subject.id).where(Subject.id == subject_id).with_for_update())
    return session.scalars(
        select(Consent)
        .where(
            Consent.subject_id == subject_id,
            Consent.status.in_(STANDING),
            Consent.service_id == service_id,
            Consent.purpose_code == purpose,
            Consent.expires_at > now,
        )
        .order_by(Consent.requested_at.desc())
        .limit(1)
    ).first()


def change_of(consent: Consent, request: AccessRequest, now: datetime) -> Change:
    """What allowing ``request`` would change in ``consent``."""
    scope = [item.as_dict() for item in request.items]
    before, after = _fields(consent.scope), _fields(scope)
    return Change(
        consent=consent,
        added=tuple(name for name in after if name not in before),
        removed=tuple(name for name in before if name not in after),
        previous_end=consent.expires_at,
        end=duration_end(now, request.duration),
        limits_changed=scope_limits(consent.scope) != scope_limits(scope),
        resumes=consent.status == ConsentStatus.PAUSED,
    )


def proposed_change(
    session: Session,
    *,
    subject_id: int,
    service_id: int,
    request: AccessRequest,
    now: datetime,
    target: GrantTarget | None = None,
) -> Change | None:
    """What allowing ``request`` would change for this subject: in the consent it names
    (``target``), else in the one standing for its purpose; None when there is none."""
    if target is not None:
        consent = targeted_consent(session, target, subject_id=subject_id, now=now)
        return change_of(consent, effective_request(consent, request, target), now)
    standing = standing_consent(
        session, subject_id=subject_id, service_id=service_id, purpose=request.purpose, now=now
    )
    return change_of(standing, request, now) if standing is not None else None


def targeted_consent(
    session: Session, target: GrantTarget, *, subject_id: int, now: datetime, lock: bool = False
) -> Consent:
    """The consent ``target`` names, if it is this subject's and stands; else
    :class:`TargetNotStanding` (the service checked it is its own when it asked)."""
    consent = session.get(Consent, target.consent_id, with_for_update=lock or None)
    if (
        consent is None
        or consent.subject_id != subject_id
        or consent.status not in STANDING
        or consent.expires_at is None
        or consent.expires_at <= now
    ):
        raise TargetNotStanding(target.consent_id)
    return consent


def effective_request(
    consent: Consent, request: AccessRequest, target: GrantTarget
) -> AccessRequest:
    """The request as it applies to ``consent``: itself for a replacement; for an update, the
    consent's scope with the request's fields merged in (its limits and duration win)."""
    if target.replace:
        return request
    asked = {(item.connector, item.resource): item for item in request.items}
    items: list[ScopeItem] = []
    for kept in consent.scope:
        key = (kept["connector"], kept["resource"])
        new = asked.pop(key, None)
        fields = tuple(kept["fields"]) + tuple(
            name for name in (new.fields if new else ()) if name not in kept["fields"]
        )
        limits = new.limits if new else GrantedLimits.stored(kept.get("constraints"))
        items.append(ScopeItem(key[0], key[1], fields, tuple(kept["actions"]), limits))
    items.extend(asked.values())
    return AccessRequest(request.purpose, request.duration, tuple(items))


def amend_consent(
    session: Session,
    context: DomainContext,
    consent: Consent,
    service: ServiceRef,
    request: AccessRequest,
    *,
    now: datetime,
    by: Actor = Actor.SUBJECT,
) -> Consent:
    """Give ``consent`` the scope and end of ``request``; the caller commits.

    Raises :class:`InvalidTransition` when the consent no longer stands (withdrawn or ended
    since the page was shown): nothing is then changed.
    """
    change = change_of(consent, request, now)
    scope = [item.as_dict() for item in request.items]
    changed = cast(
        CursorResult[Any],
        session.execute(
            update(Consent)
            .where(Consent.id == consent.id, Consent.status.in_(STANDING))
            .values(scope=scope, duration=request.duration, expires_at=change.end)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if changed != 1:
        session.refresh(consent)
        raise InvalidTransition(consent.id, ConsentStatus(consent.status), ConsentStatus.ACTIVE)
    consent.scope, consent.duration, consent.expires_at = scope, request.duration, change.end
    details: dict[str, Any] = {
        "subject": consent.subject_pseudonym,
        "by": by,
        "purpose": consent.purpose_code,
        "scope": scope_names(scope),
        "added": [".".join(name) for name in change.added],
        "removed": [".".join(name) for name in change.removed],
        # As the grant and extension entries write their ends.
        "expires": change.end.isoformat(),
        "previous_expires": change.previous_end.isoformat() if change.previous_end else None,
    }
    limits = scope_limits(scope)
    if limits:
        details["constraints"] = limits
    index = append_entry(
        session,
        LedgerEvent.CONSENT_AMENDED,
        at=now,
        consent_id=consent.id,
        service=service.client_id,
        details=details,
    )
    create_quotas(session, consent)
    issue_receipt(
        session, context, consent, service, kind=ReceiptKind.AMENDMENT, at=now, ledger_index=index
    )
    if change.resumes:
        resume_consent(session, consent, now=now, by=by)
    return consent


def _fields(scope: Any) -> list[tuple[str, str, str]]:
    return [
        (item["connector"], item["resource"], name) for item in scope for name in item["fields"]
    ]
