"""What RFC 9396 adds to a token introspection response (§9.2)."""

from typing import Any

from .parameter import PARAMETER


def introspection_members(authorization_details: list[Any] | None) -> dict[str, Any]:
    """The members an active token's introspection response adds: the details it grants."""
    if authorization_details is None:
        return {}
    return {PARAMETER: authorization_details}
