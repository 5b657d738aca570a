"""The wallet's error pages, in the citizen's language, for every page that is not an API's.

The host decides which paths are for machines (JSON problems); for the others it shows
:func:`error_page`, which :func:`wallet_ui.init_wallet` hands it.
"""

from __future__ import annotations

from flask import Response, make_response, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from wallet_ui.blueprint import bp


def error_page(status: int, message: str | None = None) -> Response:
    """A page saying what went wrong, with ``status``; ``message`` says more when given."""
    titles = {
        400: _("The request could not be understood"),
        403: _("You cannot do that"),
        404: _("Page not found"),
        405: _("That action is not available here"),
        409: _("That cannot be done now"),
        413: _("What you sent is too large"),
        429: _("Too many attempts"),
        503: _("Not ready yet"),
        500: _("Something went wrong on our side"),
    }
    title = titles.get(status, titles[400] if status < 500 else titles[500])
    html = render_template("wallet/error.html", title=title, message=message, status=status)
    return make_response(html, status)


@bp.app_errorhandler(CSRFError)
def csrf_error(error: CSRFError) -> Response:
    return error_page(
        400,
        _(
            "This form has expired or was not sent from this page. "
            "Please go back, reload the page and try again. Nothing was "
            "changed."
        ),
    )
