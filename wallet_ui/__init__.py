"""The citizen's wallet: sign-in, the consent page, the list of consents, revocation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_babel import Babel

LOCALES = ("bg", "en")
DEFAULT_LOCALE = "bg"
LANG_COOKIE = "serdika_lang"


def select_locale() -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def init_wallet(app: Flask, broker: Any, oauth: Any) -> None:
    # Their routes join ``bp`` when imported.
    import wallet_ui.account
    import wallet_ui.children
    import wallet_ui.export
    import wallet_ui.history
    import wallet_ui.mydata
    import wallet_ui.notifications  # noqa: F401
    from wallet_ui.views import bp

    Babel(
        app,
        locale_selector=select_locale,
        default_locale=DEFAULT_LOCALE,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    app.extensions["serdika.wallet.oauth"] = oauth
    app.register_blueprint(bp)
