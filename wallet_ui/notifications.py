"""The citizen's notifications in the wallet.

``GET /wallet/notifications`` lists them, newest first, in pages (``?before=`` continues); the
unread ones are marked. ``POST /wallet/notifications/read`` marks them all read.
:func:`wallet_ui.notices.notice_text` says each one in the citizen's language, here and in
the e-mail alike; the address they are e-mailed to is set on the account page
(:mod:`wallet_ui.account`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Redirect

from commons import iso8601
from consent.models import Subject
from consent.notifications import mark_all_read, page_of, unread_count
from consent.types import utcnow
from wallet_ui.blueprint import bp
from wallet_ui.locale import current_locale
from wallet_ui.notices import notice_text, service_names
from wallet_ui.ports import wallet_parts
from wallet_ui.signed_in import shown_citizen, signed_in

PAGE = 30


def _before(raw: str | None) -> tuple[datetime, int] | None:
    if not raw:
        return None
    moment, _sep, last_id = raw.rpartition("_")
    if not (last_id.isascii() and last_id.isdigit() and len(last_id) <= 19):
        return None
    if not 0 < int(last_id) <= iso8601.MAX_ID:
        return None
    try:
        return iso8601.instant(moment), int(last_id)
    except ValueError:
        return None


@bp.get("/wallet/notifications")
@signed_in
def notifications(subject: Subject) -> Redirect | str:
    session = wallet_parts().db.session
    notices = page_of(
        session, subject.id, before=_before(request.args.get("before")), limit=PAGE + 1
    )
    names = service_names(session, notices, current_locale())
    items = [
        {
            "notice": notice,
            "text": notice_text(notice, names.get(notice.details.get("service", ""))),
            "unread": notice.read_at is None,
        }
        for notice in notices[:PAGE]
    ]
    older = None
    if len(notices) > PAGE:
        last = notices[PAGE - 1]
        older = url_for("wallet.notifications", before=f"{last.created_at.isoformat()}_{last.id}")
    return render_template(
        "wallet/notifications.html",
        items=items,
        older=older,
        unread=unread_count(session, subject.id),
    )


@bp.post("/wallet/notifications/read")
@signed_in(back_to="wallet.notifications")
def notifications_read(subject: Subject) -> Redirect:
    with wallet_parts().db.writing() as session:
        mark_all_read(session, subject.id, now=utcnow())
    return redirect(url_for("wallet.notifications"))


@bp.app_context_processor
def _notification_helpers() -> dict[str, Any]:
    def unread() -> int:
        subject = shown_citizen()
        return unread_count(wallet_parts().db.session, subject.id) if subject is not None else 0

    return {"unread_notifications": unread}
