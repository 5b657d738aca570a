"""The wallet's languages: Bulgarian by default, English on request (a cookie)."""

from __future__ import annotations

from flask import request
from flask_babel import get_locale

LOCALES = ("bg", "en")
DEFAULT_LOCALE = "bg"
LANG_COOKIE = "serdika_lang"


def select_locale() -> str:
    """The citizen's chosen language (Flask-Babel's locale selector)."""
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def current_locale() -> str:
    """The language of the page being made."""
    return str(get_locale() or DEFAULT_LOCALE)
