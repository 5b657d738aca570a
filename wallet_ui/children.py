"""A parent's minor children in the wallet: whom a request is about, and the children's consents.

The children come from :class:`broker.guardians.Guardians` (the civil registry, through the
broker); whether the signed-in parent may act for a child is always read from the store
(:mod:`consent.guardianship`), so a parent's control ends at the child's 18th birthday.
The request page asks whose data a request is about (:func:`request_choice`,
:func:`chosen_subject`); the dashboard lists each child's consents under the child
(``wallet/_children.html`` calls :func:`child_sections`); a child's consent page says whose
data it is about (:func:`consent_child`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import request
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import egn
from consent.models import Consent, Purpose, Service, Subject
from consent.types import utcnow
from consent.wards import Child, may_act_for
from wallet_ui.views import _broker, _db, _effective_status, bp

#: The form value of "the request is about me".
ME = "me"


@dataclass(frozen=True)
class RequestChoice:
    """Whom the signed-in citizen may answer a request for, besides themself."""

    children: list[Child]
    #: False when the registry did not answer: the children recorded before are still shown.
    registry_answered: bool


@dataclass(frozen=True)
class ChildSection:
    """One child on the parent's dashboard, with the child's consents, the newest first."""

    child: Child
    #: (consent, service, purpose, the consent's status now)
    consents: list[tuple[Consent, Service, Purpose, str]]


@bp.app_template_global()
def child_label(child: Child) -> str:
    """The child as a choice on the request page, marked as the parent's child."""
    if child.name:
        return _("%(name)s, born %(year)d — your child", name=child.name,
                 year=child.birth_date.year)
    return _("Your child born on %(date)s", date=format_date(child.birth_date, "long"))


@bp.app_template_global()
def child_heading(child: Child) -> str:
    """The heading of the child's consents on the parent's dashboard."""
    if child.name:
        return _("Consents for %(name)s (your child)", name=child.name)
    return _("Consents for your child born on %(date)s",
             date=format_date(child.birth_date, "long"))


@bp.app_template_global()
def child_until(child: Child) -> str:
    """When the parent's control of the child ends (a date: the 18th birthday)."""
    return _("You answer for your child until they turn 18, on %(date)s. Their consents then "
             "move to their own wallet.",
             date=format_date(egn.coming_of_age(child.birth_date), "long"))


def request_choice(subject: Subject, now: datetime) -> RequestChoice:
    """Read the signed-in parent's minor children (from the registry, at most every few
    minutes) for the request page."""
    broker = _broker()
    answered = broker.guardians.refresh(_db(), subject, now=now)
    return RequestChoice(broker.guardians.children(_db().session, subject, now=now), answered)


def chosen_subject(session: Session, subject: Subject, chosen: str | None,
                   now: datetime) -> Subject | None:
    """Whom the answer is for: ``subject`` themself, or a child they may act for; else None."""
    if chosen in (None, "", ME):
        return subject
    if not chosen.isascii() or not chosen.isdigit() or len(chosen) > 18:
        return None
    ward_id = int(chosen)
    if not may_act_for(session, subject.id, ward_id, now):
        return None
    return session.get(Subject, ward_id)


def children_in_care(subject: Subject, now: datetime) -> list[Child]:
    """The children ``subject`` may act for, named from the registry when it is known."""
    return request_choice(subject, now).children


@bp.app_template_global()
def child_sections() -> list[ChildSection]:
    """Each child in the signed-in parent's care, with the child's consents."""
    subject = getattr(request, "_serdika_subject", None)
    if subject is None:
        return []
    now = utcnow()
    children = children_in_care(subject, now)
    if not children:
        return []
    rows = _db().session.execute(
        select(Consent, Service, Purpose)
        .join(Service, Service.id == Consent.service_id)
        .join(Purpose, Purpose.code == Consent.purpose_code)
        .where(Consent.subject_id.in_([child.subject_id for child in children]))
        .order_by(Consent.requested_at.desc())
    ).all()
    return [
        ChildSection(child, [(c, s, p, _effective_status(c, now)) for c, s, p in rows
                             if c.subject_id == child.subject_id])
        for child in children
    ]


@bp.app_template_global()
def consent_child(consent: Consent) -> str | None:
    """Say whose data a consent is about, when it is a child's, not the signed-in citizen's."""
    subject = getattr(request, "_serdika_subject", None)
    if subject is None or consent.subject_id == subject.id:
        return None
    for child in children_in_care(subject, utcnow()):
        if child.subject_id == consent.subject_id:
            if child.name:
                return _("This consent is about your child %(name)s's data. You answer for "
                         "them until they turn 18.", name=child.name)
            return _("This consent is about the data of your child born on %(date)s. You "
                     "answer for them until they turn 18.",
                     date=format_date(child.birth_date, "long"))
    return None
