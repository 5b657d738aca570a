"""Each notice said in the citizen's language, in the wallet, the data export and the e-mail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.guardianship import HandOverRole
from consent.models import Notification, Service
from consent.notifications import NotificationKind


def notice_text(notification: Notification, service_name: str | None) -> str:
    """One sentence for the notice, in the current locale; names, never data values."""
    service = service_name or _("A service")
    details = notification.details or {}
    about_child = "about" in details
    kind = notification.kind
    if kind == NotificationKind.REQUEST:
        return (
            _("%(service)s asked for your child's data.", service=service)
            if about_child
            else _("%(service)s asked for your data.", service=service)
        )
    if kind == NotificationKind.FIRST_READ:
        return (
            _(
                "%(service)s read your child's data for the first time under their consent.",
                service=service,
            )
            if about_child
            else _(
                "%(service)s read your data for the first time under your consent.", service=service
            )
        )
    if kind == NotificationKind.EXPIRING:
        ends = details.get("expires")
        when = format_datetime(datetime.fromisoformat(ends), "medium") if ends else ""
        return _(
            "Your consent to %(service)s ends on %(when)s. You can extend it if you wish.",
            service=service,
            when=when,
        )
    if kind == NotificationKind.ERASURE_ACKNOWLEDGED:
        return _(
            "%(service)s confirmed that it erased the data it received under your consent.",
            service=service,
        )
    if kind == NotificationKind.COMING_OF_AGE:
        if details.get("role") == HandOverRole.GUARDIAN:
            return _(
                "Your child has come of age: their consents are now theirs to manage, "
                "in their own wallet."
            )
        return _(
            "You have come of age: the consents your parents gave for you are now yours to manage."
        )
    return _("Something changed in your wallet.")


def service_names(session: Session, notices: list[Notification], locale: str) -> dict[str, str]:
    """Each service named in the notices, in ``locale``; one query for the page."""
    client_ids = {n.details.get("service") for n in notices if n.details.get("service")}
    if not client_ids:
        return {}
    rows = session.execute(
        select(Service.client_id, Service.name_bg, Service.name_en).where(
            Service.client_id.in_(client_ids)
        )
    ).all()
    return {client_id: (bg if locale == "bg" else en) for client_id, bg, en in rows}


def describer(session: Session, locale: str) -> Callable[[Notification], str]:
    """:func:`notice_text` for notices read one by one (a streamed export): each service's
    name is looked up once."""
    names: dict[str, str] = {}
    looked_up: set[str] = set()

    def describe(notice: Notification) -> str:
        client_id = notice.details.get("service") or ""
        if client_id and client_id not in looked_up:
            names.update(service_names(session, [notice], locale))
            looked_up.add(client_id)
        return notice_text(notice, names.get(client_id))

    return describe
