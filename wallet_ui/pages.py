"""What every wallet page shares: its template helpers, the language switch, safe links back."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import redirect, request, url_for
from flask_babel import format_date, format_datetime
from werkzeug.wrappers import Response

from wallet_ui.blueprint import bp
from wallet_ui.locale import LANG_COOKIE, LOCALES, current_locale
from wallet_ui.signed_in import shown_citizen
from wallet_ui.wording import limits_in_words


def safe_next(target: str | None) -> str:
    """Only same-origin paths are followed after sign-in (no open redirect)."""
    if not target:
        return url_for("wallet.home")
    # Control characters: browsers drop tabs and newlines ("/\t/evil" becomes "//evil"), and
    # a newline in a Location header makes Werkzeug raise (a 500).
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return url_for("wallet.home")
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return url_for("wallet.home")
    return target


@bp.app_context_processor
def _page_helpers() -> dict[str, Any]:
    locale = current_locale()
    other = "en" if locale == "bg" else "bg"
    return {
        "locale": locale,
        "other_locale": other,
        "other_locale_name": {"bg": "Български", "en": "English"}[other],
        "language_url": url_for("wallet.language", lang=other, next=request.full_path.rstrip("?")),
        "label": lambda thing: thing.label(locale),
        "when": lambda value: format_datetime(value, "medium") if value else "",
        # A day on the city's calendar, in words ("6 March 2027").
        "day": lambda value: format_date(value, "long") if value else "",
        "limits": limits_in_words,
        "signed_in": shown_citizen(),
    }


@bp.get("/")
def front_door() -> Response:
    """The broker's address leads a citizen to their wallet."""
    return redirect(url_for("wallet.home"))


@bp.get("/wallet/language")
def language() -> Response:
    lang = request.args.get("lang", "")
    response = redirect(safe_next(request.args.get("next")))
    if lang in LOCALES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=request.is_secure,
            httponly=True,
        )
    return response
