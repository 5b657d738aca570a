"""The citizen's notifications, and where they are e-mailed.

``GET /wallet/notifications`` lists them, newest first, in pages (``?before=`` continues); the
unread ones are marked. ``POST /wallet/notifications/read`` marks them all read.
``POST /wallet/account/email`` sets (or, empty, removes) the address they are e-mailed to.
:func:`notice_text` says each one in the citizen's language, here and in the e-mail alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as Redirect

from consent.models import Notification, Service, Subject
from consent.notifications import (
    NotificationKind,
    mark_all_read,
    page_of,
    set_email,
    unread_count,
)
from consent.types import utcnow
from wallet_ui.views import _broker, _db, _locale, _require_sign_in, _signed_in, bp

PAGE = 30


def notice_text(notification: Notification, service_name: str | None) -> str:
    """One sentence for the notice, in the current locale; names, never data values."""
    service = service_name or _("A service")
    details = notification.details or {}
    about_child = "about" in details
    kind = notification.kind
    if kind == NotificationKind.REQUEST:
        return (_("%(service)s asked for your child's data.", service=service) if about_child
                else _("%(service)s asked for your data.", service=service))
    if kind == NotificationKind.FIRST_READ:
        return (_("%(service)s read your child's data for the first time under their consent.",
                  service=service) if about_child
                else _("%(service)s read your data for the first time under your consent.",
                       service=service))
    if kind == NotificationKind.EXPIRING:
        ends = details.get("expires")
        when = format_datetime(datetime.fromisoformat(ends), "medium") if ends else ""
        return _("Your consent to %(service)s ends on %(when)s. You can extend it if you "
                 "wish.", service=service, when=when)
    if kind == NotificationKind.ERASURE_ACKNOWLEDGED:
        return _("%(service)s confirmed that it erased the data it received under your "
                 "consent.", service=service)
    if kind == NotificationKind.COMING_OF_AGE:
        if details.get("role") == "guardian":
            return _("Your child has come of age: their consents are now theirs to manage, "
                     "in their own wallet.")
        return _("You have come of age: the consents your parents gave for you are now yours "
                 "to manage.")
    return _("Something changed in your wallet.")


def service_names(session: Any, notices: list[Notification], locale: str) -> dict[str, str]:
    """Each service named in the notices, in ``locale``; one query for the page."""
    client_ids = {n.details.get("service") for n in notices if n.details.get("service")}
    if not client_ids:
        return {}
    rows = session.execute(
        select(Service.client_id, Service.name_bg, Service.name_en)
        .where(Service.client_id.in_(client_ids))
    ).all()
    return {client_id: (bg if locale == "bg" else en) for client_id, bg, en in rows}


def describer(session: Any, locale: str) -> Callable[[Notification], str]:
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


def _before(raw: str | None) -> tuple[datetime, int] | None:
    if not raw:
        return None
    moment, _sep, last_id = raw.rpartition("_")
    try:
        at = datetime.fromisoformat(moment)
        return (at, int(last_id)) if at.tzinfo is not None else None
    except ValueError:
        return None


@bp.get("/wallet/notifications")
def notifications() -> Redirect | str:
    subject = _signed_in()
    if subject is None:
        return _require_sign_in()
    request._serdika_subject = subject  # type: ignore[attr-defined]
    session = _db().session
    notices = page_of(session, subject.id, before=_before(request.args.get("before")),
                      limit=PAGE + 1)
    names = service_names(session, notices, _locale())
    items = [{"notice": notice,
              "text": notice_text(notice, names.get(notice.details.get("service", ""))),
              "unread": notice.read_at is None}
             for notice in notices[:PAGE]]
    older = None
    if len(notices) > PAGE:
        last = notices[PAGE - 1]
        older = url_for("wallet.notifications",
                        before=f"{last.created_at.isoformat()}_{last.id}")
    return render_template("wallet/notifications.html", items=items, older=older,
                           unread=unread_count(session, subject.id))


@bp.post("/wallet/notifications/read")
def notifications_read() -> Redirect:
    subject = _signed_in()
    if subject is None:
        return redirect(url_for("wallet.sign_in", next=url_for("wallet.notifications")))
    with _db().writing() as session:
        mark_all_read(session, subject.id, now=utcnow())
    return redirect(url_for("wallet.notifications"))


@bp.post("/wallet/account/email")
def account_email() -> Redirect | Any:
    subject = _signed_in()
    if subject is None:
        return redirect(url_for("wallet.sign_in", next=url_for("wallet.account")))
    request._serdika_subject = subject  # type: ignore[attr-defined]
    typed = request.form.get("email", "").strip()[:320]
    address = None
    if typed:
        try:
            address = validate_email(typed, check_deliverability=False).normalized
        except EmailNotValidError:
            from wallet_ui.account import account_page  # that module imports this one

            error = _("Enter an e-mail address such as name@example.bg. Nothing was changed.")
            return make_response(account_page(subject, email_error=error, typed=typed), 400)
    broker = _broker()
    with broker.db.writing() as session:
        row = session.get(Subject, subject.id)
        assert row is not None
        set_email(broker.keys.keyring, row, address)
    flash(_("Notifications will be e-mailed to %(address)s.", address=address) if address
          else _("Notifications will no longer be e-mailed; you will find them in the wallet."))
    return redirect(url_for("wallet.account"))


@bp.app_context_processor
def _notification_helpers() -> dict[str, Any]:
    def unread() -> int:
        subject = getattr(request, "_serdika_subject", None)
        return unread_count(_db().session, subject.id) if subject is not None else 0

    return {"unread_notifications": unread}
