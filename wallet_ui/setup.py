"""Setting the wallet up in an app: its pages, languages and parts, and what it gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from flask import Flask, Response
from flask_babel import Babel

# Each page module adds its routes and template helpers to the blueprint when imported.
import wallet_ui.account
import wallet_ui.authorize
import wallet_ui.children
import wallet_ui.consent_actions
import wallet_ui.consents
import wallet_ui.gdpr_export
import wallet_ui.history
import wallet_ui.mydata
import wallet_ui.notifications
import wallet_ui.pages
import wallet_ui.receipts
import wallet_ui.sign_in  # noqa: F401 - imported for its routes, as are the others
from consent.models import Notification, Subject
from wallet_ui.blueprint import bp
from wallet_ui.errors import error_page
from wallet_ui.locale import DEFAULT_LOCALE, select_locale
from wallet_ui.mail import NoticeMail, render_notice_mail
from wallet_ui.ports import WalletParts, keep_parts


@dataclass(frozen=True)
class Wallet:
    """What the wallet gives its host: its error pages and its e-mails."""

    #: The HTML page for an error status on any path that is not for machines.
    error_page: Callable[[int], Response]
    #: Writes a notice's e-mail to a citizen, for the host to send.
    render_mail: Callable[[Notification, Subject], NoticeMail]


def init_wallet(app: Flask, parts: WalletParts) -> Wallet:
    """Register the wallet's pages on ``app``, with the parts it works through."""
    Babel(
        app,
        locale_selector=select_locale,
        default_locale=DEFAULT_LOCALE,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    keep_parts(app, parts)
    app.register_blueprint(bp)
    return Wallet(error_page=error_page, render_mail=partial(render_notice_mail, app))
