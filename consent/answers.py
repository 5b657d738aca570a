"""The citizen's answer to a service's request: what they kept, whose data, recorded.

The consent page lists every field asked for; required fields are always kept, optional
ones only when ticked. An "allow" that keeps nothing is a refusal. The answer is the
citizen's own, or a parent's for a minor child in their care now (:mod:`consent.wards`);
either way :func:`consent.lifecycle.record_decision` records it, with its ledger entries
and, when allowed, its receipt. An "allow" for a service and purpose that already hold a
consent of that person amends that consent instead (:mod:`consent.amendment`): never two.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from connectors.base import ConnectorDescription
from consent.amendment import (
    GrantTarget,
    amend_consent,
    effective_request,
    standing_consent,
    targeted_consent,
)
from consent.lifecycle import Actor, DomainContext, ServiceRef, record_decision
from consent.models import Consent, Subject
from consent.requests import AccessRequest
from consent.wards import may_act_for


class NotInCare(LookupError):
    """The citizen cannot answer for this person: not a child in their care, or of age."""


@dataclass(frozen=True)
class Answer:
    """What the citizen chose on the consent page."""

    allow: bool
    #: The optional fields ticked, each as ``connector.resource.field``.
    ticked: Collection[str] = ()
    #: Whose data the answer is about: None for the citizen themself, or a ward's subject id.
    ward_id: int | None = None
    #: The consent the request names to change (Grant Management), if it names one.
    target: GrantTarget | None = None


@dataclass(frozen=True)
class Recorded:
    """The consent recorded, whose data it is about, and whether access was granted."""

    consent: Consent
    subject: Subject
    granted: bool
    #: True when the answer amended the consent that stood (consent.amendment).
    amended: bool = False
    #: True when it replaced that consent's scope: its earlier tokens must stop working.
    replaced: bool = False


def kept(
    request: AccessRequest, catalogue: Mapping[str, ConnectorDescription], ticked: Collection[str]
) -> AccessRequest:
    """The request narrowed to its required fields and the optional ones ``ticked``."""
    chosen = set(ticked)
    fields_kept: dict[tuple[str, str], set[str]] = {}
    for item in request.items:
        fields = catalogue[item.connector].resources[item.resource].fields
        fields_kept[(item.connector, item.resource)] = {
            name
            for name in item.fields
            if not fields[name].optional or f"{item.connector}.{item.resource}.{name}" in chosen
        }
    return request.narrowed(fields_kept)


def whose_data(session: Session, citizen: Subject, ward_id: int | None, now: datetime) -> Subject:
    """The citizen, or the ward they may answer for at ``now``; else :class:`NotInCare`."""
    if ward_id is None:
        return citizen
    ward = session.get(Subject, ward_id) if may_act_for(session, citizen.id, ward_id, now) else None
    if ward is None:
        raise NotInCare(ward_id)
    return ward


def answer_request(
    session: Session,
    context: DomainContext,
    catalogue: Mapping[str, ConnectorDescription],
    *,
    citizen: Subject,
    service: ServiceRef,
    request: AccessRequest,
    answer: Answer,
    now: datetime,
) -> Recorded:
    """Record the citizen's answer to ``request``; the caller commits.

    Raises :class:`NotInCare` (and records nothing) when the answer is for someone the
    citizen may not answer for, and :class:`consent.amendment.TargetNotStanding` when the
    consent the request names is not theirs or no longer stands.
    """
    allow = answer.allow
    if allow:
        request = kept(request, catalogue, answer.ticked)
        allow = bool(request.items)
    citizen = session.merge(citizen)
    about = whose_data(session, citizen, answer.ward_id, now)
    if allow:
        by = Actor.SUBJECT if about.id == citizen.id else Actor.GUARDIAN
        target = answer.target
        if target is not None:
            named = targeted_consent(session, target, subject_id=about.id, now=now, lock=True)
            changed = effective_request(named, request, target)
            amend_consent(session, context, named, service, changed, now=now, by=by)
            return Recorded(named, about, True, amended=True, replaced=target.replace)
        standing = standing_consent(
            session,
            subject_id=about.id,
            service_id=service.id,
            purpose=request.purpose,
            now=now,
            lock=True,
        )
        if standing is not None:
            amend_consent(session, context, standing, service, request, now=now, by=by)
            return Recorded(standing, about, True, amended=True)
    consent = record_decision(
        session,
        context,
        subject=about,
        service=service,
        request=request,
        allow=allow,
        now=now,
        decided_by=citizen,
    )
    return Recorded(consent, about, allow)
