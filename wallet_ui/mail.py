"""A notice's e-mail, written by the wallet: its subject line, plain text and HTML.

The host sends it (``broker/mail.py``); the wallet only says it, in the citizen's language,
with a link to their notifications.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from consent.models import Notification, Subject
from wallet_ui.locale import DEFAULT_LOCALE, LOCALES
from wallet_ui.notices import notice_text, service_names
from wallet_ui.ports import wallet_parts


@dataclass(frozen=True)
class NoticeMail:
    """One notice's e-mail, ready to send."""

    subject: str
    text: str
    html: str
    #: The language it is written in (its ``Content-Language``).
    locale: str


def _shorten(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_notice_mail(app: Flask, notice: Notification, recipient: Subject) -> NoticeMail:
    """Write the e-mail of ``notice`` to ``recipient``: what happened, and a link."""
    locale = recipient.locale if recipient.locale in LOCALES else DEFAULT_LOCALE
    issuer = wallet_parts(app).settings.issuer
    link = f"{issuer}/wallet/notifications"
    with app.test_request_context(base_url=issuer), force_locale(locale):
        names = service_names(wallet_parts().db.session, [notice], locale)
        text = notice_text(notice, names.get(notice.details.get("service", "")))
        return NoticeMail(
            subject=_("Serdika: %(text)s", text=_shorten(text)),
            text=render_template("wallet/email.txt", text=text, link=link),
            html=render_template("wallet/email.html", text=text, link=link, locale=locale),
            locale=locale,
        )
