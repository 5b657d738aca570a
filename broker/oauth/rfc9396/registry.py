"""The types of authorization details a server understands, each with its handler (RFC 9396 §2)."""

from collections.abc import Iterable
from typing import Any, Protocol

from .errors import InvalidAuthorizationDetailsError
from .parameter import PARAMETER

#: Descriptions are cut here: they travel in the redirect URI.
MAX_DESCRIPTION = 500


class AuthorizationDetailType(Protocol):
    """One ``type`` of authorization details, with the rules of its other members.

    RFC 9396 §2: the authorization server defines each type it supports, and refuses any
    entry of another type or that breaks its type's rules.
    """

    #: The value of ``type`` this handler answers for.
    name: str

    def validate(self, grant: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Check this type's entries of one authorization request; return them normalised.

        ``entries`` are the request's objects of this ``type``, in the order sent. What is
        returned is what the request asks for, defaults filled in (RFC 9396 §7: the server
        may grant less or add what it implies).

        :param grant: the grant whose authorization request is validated.
        :raises InvalidAuthorizationDetailsError: with a description the client's developer
            can act on; it must use only the characters RFC 6749 §5.2 allows there.
        """
        ...


class AuthorizationDetailTypes:
    """The registry of detail types, by name; routes each request's entries to their type.

    ::

        types = AuthorizationDetailTypes([PaymentInitiation()])
        types.register(AccountInformation())
    """

    def __init__(self, types: Iterable[AuthorizationDetailType] = ()) -> None:
        self._types: dict[str, AuthorizationDetailType] = {}
        for detail_type in types:
            self.register(detail_type)

    def register(self, detail_type: AuthorizationDetailType) -> None:
        """Add a type; each name is registered once."""
        if detail_type.name in self._types:
            raise ValueError(f"Authorization details type {detail_type.name!r} is registered.")
        self._types[detail_type.name] = detail_type

    @property
    def supported(self) -> list[str]:
        """The registered names, for ``authorization_details_types_supported`` (§10)."""
        return list(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __getitem__(self, name: str) -> AuthorizationDetailType:
        return self._types[name]

    def validate(self, grant: Any, entries: list[Any]) -> list[dict[str, Any]]:
        """Check that every entry is an object of a registered ``type``, then hand each type
        its entries.

        Every entry that cannot be routed is described, in one error.
        """
        problems: list[str] = []
        by_type: dict[str, list[dict[str, Any]]] = {}
        for index, entry in enumerate(entries):
            problem = self._problem(entry)
            if problem:
                problems.append(f"{PARAMETER}[{index}]{problem}")
            else:
                by_type.setdefault(entry["type"], []).append(entry)
        if problems:
            raise InvalidAuthorizationDetailsError("; ".join(problems)[:MAX_DESCRIPTION])
        return [
            granted
            for name, group in by_type.items()
            for granted in self._types[name].validate(grant, group)
        ]

    def _problem(self, entry: Any) -> str | None:
        # Worded as marshmallow words schema errors ("path: message"), so that a type whose
        # handler validates with a marshmallow schema describes every error alike.
        if not isinstance(entry, dict):
            return "._schema: Invalid input type."
        name = entry.get("type")
        if name is None:
            return ".type: Missing data for required field."
        if not isinstance(name, str):
            return ".type: Not a valid string."
        if name in self._types:
            return None
        if len(self._types) == 1:
            return f".type: Must be equal to {self.supported[0]}."
        return f".type: Must be one of: {', '.join(self.supported)}."
