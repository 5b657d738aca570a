"""A parent's minor children in the wallet: whom a request is about, and the children's consents.

The children come from the guardianship reader the host hands the wallet
(:class:`wallet_ui.ports.GuardianshipReader`: the civil registry, read every few minutes);
whether the signed-in parent may act for a child is always read from the store
(:mod:`consent.wards`), so a parent's control ends at the child's 18th birthday.
The request page asks whose data a request is about (:func:`request_choice`,
:func:`ward_chosen`); the dashboard lists each child's consents under the child
(``wallet/_children.html`` calls :func:`child_sections`); a child's consent page says whose
data it is about (:func:`consent_child`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import format_date
from flask_babel import gettext as _

from commons import egn
from consent.answers import NotInCare
from consent.citizen_consents import consents_of, effective_status
from consent.models import Consent, ConsentStatus, Purpose, Service, Subject
from consent.types import utcnow
from consent.wards import Child
from wallet_ui.blueprint import bp
from wallet_ui.ports import wallet_parts
from wallet_ui.signed_in import shown_citizen

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
    consents: list[tuple[Consent, Service, Purpose, ConsentStatus]]


@bp.app_template_global()
def child_label(child: Child) -> str:
    """The child as a choice on the request page, marked as the parent's child."""
    if child.name:
        return _(
            "%(name)s, born %(year)d — your child", name=child.name, year=child.birth_date.year
        )
    return _("Your child born on %(date)s", date=format_date(child.birth_date, "long"))


@bp.app_template_global()
def child_heading(child: Child) -> str:
    """The heading of the child's consents on the parent's dashboard."""
    if child.name:
        return _("Consents for %(name)s (your child)", name=child.name)
    return _("Consents for your child born on %(date)s", date=format_date(child.birth_date, "long"))


@bp.app_template_global()
def child_until(child: Child) -> str:
    """When the parent's control of the child ends (a date: the 18th birthday)."""
    return _(
        "You answer for your child until they turn 18, on %(date)s. Their consents then "
        "move to their own wallet.",
        date=format_date(egn.coming_of_age(child.birth_date), "long"),
    )


def request_choice(subject: Subject, now: datetime) -> RequestChoice:
    """Read the signed-in parent's minor children (from the registry, at most every few
    minutes) for the request page."""
    parts = wallet_parts()
    answered = parts.guardians.refresh(parts.db, subject, now=now)
    return RequestChoice(parts.guardians.children(parts.db.session, subject, now=now), answered)


def ward_chosen(chosen: str | None) -> int | None:
    """Whose data the form says the answer is about: None for the citizen themself, or the
    subject id of a child; raise :class:`consent.answers.NotInCare` for anything else."""
    if chosen in (None, "", ME):
        return None
    if not chosen.isascii() or not chosen.isdigit() or len(chosen) > 18:
        raise NotInCare(chosen)
    return int(chosen)


def children_in_care(subject: Subject, now: datetime) -> list[Child]:
    """The children ``subject`` may act for, named from the registry when it is known."""
    return request_choice(subject, now).children


@bp.app_template_global()
def child_sections() -> list[ChildSection]:
    """Each child in the signed-in parent's care, with the child's consents."""
    subject = shown_citizen()
    if subject is None:
        return []
    now = utcnow()
    children = children_in_care(subject, now)
    if not children:
        return []
    rows = consents_of(wallet_parts().db.session, [child.subject_id for child in children])
    return [
        ChildSection(
            child,
            [
                (c, s, p, effective_status(c, now))
                for c, s, p in rows
                if c.subject_id == child.subject_id
            ],
        )
        for child in children
    ]


@bp.app_template_global()
def consent_child(consent: Consent) -> str | None:
    """Say whose data a consent is about, when it is a child's, not the signed-in citizen's."""
    subject = shown_citizen()
    if subject is None or consent.subject_id == subject.id:
        return None
    for child in children_in_care(subject, utcnow()):
        if child.subject_id == consent.subject_id:
            if child.name:
                return _(
                    "This consent is about your child %(name)s's data. You answer for "
                    "them until they turn 18.",
                    name=child.name,
                )
            return _(
                "This consent is about the data of your child born on %(date)s. You "
                "answer for them until they turn 18.",
                date=format_date(child.birth_date, "long"),
            )
    return None
