"""Grant Management for OAuth 2.0 (the FAPI working group's draft), as an Authlib extension.

A client names the grant an authorization request is about (``grant_id``) and what to do
with it (``grant_management_action``): ``create`` a new grant, ``update`` it (merge the
requested authorization into it; the draft's newer name is ``merge``) or ``replace`` it (its
earlier tokens stop working). Every token response of the grant carries its ``grant_id``.
Registered as Authlib registers PKCE::

    server.register_grant(AuthorizationCodeGrant, [CodeChallenge(), MyGrantManagement()])

The extension only reads the wire; what a grant is belongs to the server, in two methods a
subclass fills in: :meth:`GrantManagement.query_grant` and :meth:`GrantManagement.get_grant_id`.
The grant management endpoint itself (``GET`` and ``DELETE`` of a grant) is the server's
resource. The extension imports nothing but Authlib, like Authlib's own RFC packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationEndpointMixin, TokenEndpointMixin

ACTION = "grant_management_action"
GRANT_ID = "grant_id"
#: The actions this extension knows; ``merge`` is the draft's later name of ``update``.
ACTIONS = ("create", "update", "replace")
ALIASES = {"merge": "update"}
#: The client credentials scopes of the grant management endpoint (draft §6).
QUERY_SCOPE = "grant_management_query"
REVOKE_SCOPE = "grant_management_revoke"


class InvalidGrantIdError(OAuth2Error):
    """The ``grant_id`` is unknown, not the client's, or no longer in force (draft §5.2)."""

    error = "invalid_grant_id"


@dataclass(frozen=True)
class GrantRequest:
    """What an authorization request asks of an existing grant."""

    action: str
    grant_id: str | None
    #: The server's grant (what :meth:`GrantManagement.query_grant` returned), or None.
    grant: Any = None


class GrantManagement:
    """The draft's authorization request parameters and token response member."""

    def __call__(self, grant: Any) -> None:
        if isinstance(grant, AuthorizationEndpointMixin):
            grant.register_hook(
                "after_validate_authorization_request_payload", self.validate_grant_management
            )
        if isinstance(grant, TokenEndpointMixin):
            grant.register_hook("after_create_token_response", self.add_to_token_response)

    def validate_grant_management(self, grant: Any, result: Any) -> None:
        """Check the parameters; keep them on ``grant.request.grant_management``."""
        data = grant.request.payload.data
        action = data.get(ACTION)
        grant_id = data.get(GRANT_ID)
        if action is None and grant_id is None:
            grant.request.grant_management = None
            return
        action = ALIASES.get(action, action)
        if action not in ACTIONS:
            raise InvalidRequestError(
                f"'{ACTION}' must be one of {', '.join(ACTIONS)} (or 'merge')."
            )
        if action == "create":
            if grant_id is not None:
                raise InvalidRequestError(f"'{ACTION}=create' takes no '{GRANT_ID}'.")
            grant.request.grant_management = GrantRequest(action, None)
            return
        if not grant_id:
            raise InvalidRequestError(f"'{ACTION}={action}' needs the '{GRANT_ID}'.")
        found = self.query_grant(grant, grant_id)
        if found is None:
            raise InvalidGrantIdError("No grant of this client in force has this 'grant_id'.")
        grant.request.grant_management = GrantRequest(action, grant_id, found)

    def add_to_token_response(self, grant: Any, result: tuple[int, Any, Any]) -> None:
        """Every token response of a grant names it (draft §4)."""
        _status, token, _headers = result
        grant_id = self.get_grant_id(grant)
        if grant_id is not None and isinstance(token, dict):
            token[GRANT_ID] = grant_id

    # -- what a server fills in -----------------------------------------------------------

    def query_grant(self, grant: Any, grant_id: str) -> Any:
        """Return the client's grant ``grant_id`` still in force, or None."""
        raise NotImplementedError

    def get_grant_id(self, grant: Any) -> str | None:
        """Return the id of the grant a token response is issued for, or None."""
        raise NotImplementedError


def metadata(endpoint: str) -> dict[str, Any]:
    """The authorization server metadata of the draft (§7)."""
    return {
        "grant_management_endpoint": endpoint,
        "grant_management_actions_supported": list(ACTIONS),
        "grant_management_action_required": False,
    }
