"""Who is signed in, and :func:`signed_in`, the one way a page asks for a signed-in citizen."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar, cast, overload

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response

from consent.models import Subject
from consent.types import utcnow
from wallet_ui.auth import current_sign_in, is_stale, seen_since
from wallet_ui.ports import wallet_parts

P = ParamSpec("P")
R = TypeVar("R")


def current_citizen() -> Subject | None:
    """The citizen this browser's session belongs to, if it is still valid; the session's
    "last active" moves on (a write at most every few minutes, see wallet_ui.auth)."""
    db = wallet_parts().db
    now = utcnow()
    found = current_sign_in(db.session, now=now)
    if found is None:
        return None
    citizen, last_seen = found
    if is_stale(last_seen, now):
        with db.writing() as session:
            seen_since(session, now=now)
    return citizen


def show_as_signed_in(citizen: Subject | None) -> None:
    """Make the page being made show ``citizen`` as signed in (None: as signed out)."""
    g.wallet_citizen = citizen


def shown_citizen() -> Subject | None:
    """The citizen the page being made is for, if :func:`show_as_signed_in` named one."""
    citizen: Subject | None = g.get("wallet_citizen")
    return citizen


def sign_in_first(next_url: str | None = None) -> Response:
    """Send the browser to sign in, then on to ``next_url`` (default: this very page)."""
    return redirect(url_for("wallet.sign_in", next=next_url or request.full_path.rstrip("?")))


@overload
def signed_in(
    view: Callable[Concatenate[Subject, P], R], *, back_to: None = None
) -> Callable[P, R | Response]: ...


@overload
def signed_in(
    view: None = None, *, back_to: str
) -> Callable[[Callable[Concatenate[Subject, P], R]], Callable[P, R | Response]]: ...


def signed_in(
    view: Callable[Concatenate[Subject, P], R] | None = None, *, back_to: str | None = None
) -> (
    Callable[P, R | Response]
    | Callable[[Callable[Concatenate[Subject, P], R]], Callable[P, R | Response]]
):
    """Run ``view`` with the signed-in citizen as its first argument; else sign in first.

    After signing in the browser comes back to this page, or, with ``back_to``, to that
    endpoint (given the view's arguments): a form's action answers POST only, so the citizen
    comes back to the page that has the form.
    """

    def decorate(inner: Callable[Concatenate[Subject, P], R]) -> Callable[P, R | Response]:
        @wraps(inner)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            citizen = current_citizen()
            if citizen is None:
                return sign_in_first(url_for(back_to, **cast(Any, kwargs)) if back_to else None)
            show_as_signed_in(citizen)
            return inner(citizen, *args, **kwargs)

        return wrapper

    return decorate if view is None else decorate(view)
