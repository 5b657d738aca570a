"""The ``authorization_details`` request parameter (RFC 9396 §2)."""

import json
from typing import Any

from .errors import InvalidAuthorizationDetailsError

#: The name of the request parameter, and of the token and introspection response member.
PARAMETER = "authorization_details"


def parse_authorization_details(raw: str, *, max_entries: int | None = None) -> list[Any]:
    """Parse the parameter's value: a non-empty JSON array (RFC 9396 §2).

    Whether each entry is an object of a known ``type`` is for
    :meth:`~.registry.AuthorizationDetailTypes.validate` to say.

    :param raw: the parameter as sent.
    :param max_entries: refuse arrays longer than this (a server's own limit).
    :raises InvalidAuthorizationDetailsError: if it is not JSON, not an array, empty or
        too long.
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidAuthorizationDetailsError(f"'{PARAMETER}' is not valid JSON.") from exc
    if not isinstance(data, list) or not data:
        raise InvalidAuthorizationDetailsError(
            f"'{PARAMETER}' must be a non-empty JSON array of objects."
        )
    if max_entries is not None and len(data) > max_entries:
        raise InvalidAuthorizationDetailsError(f"At most {max_entries} entries are allowed.")
    return data
