"""The grant extension: details in the authorization request and in the token response."""

from collections.abc import Iterable
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationEndpointMixin, TokenEndpointMixin

from .errors import InvalidAuthorizationDetailsError
from .parameter import PARAMETER, parse_authorization_details
from .registry import AuthorizationDetailType, AuthorizationDetailTypes


class AuthorizationDetails:
    """RFC 9396 extension to grants, registered as Authlib registers PKCE::

        details = AuthorizationDetails(AuthorizationDetailTypes([PaymentInitiation()]))
        server.register_grant(AuthorizationCodeGrant, [CodeChallenge(), details])
        server.register_grant(RefreshTokenGrant, [details])

    At the authorization endpoint it validates the ``authorization_details`` parameter and
    keeps the result on ``grant.request.authorization_details``; at the token endpoint it
    adds the granted details to the token response (§7).

    Extensions on one hook run in an order Authlib does not fix: a server that wants PKCE
    refused before the details runs its grant's hooks in registration order.
    """

    def __init__(
        self,
        types: AuthorizationDetailTypes | Iterable[AuthorizationDetailType],
        *,
        max_entries: int | None = None,
    ) -> None:
        if not isinstance(types, AuthorizationDetailTypes):
            types = AuthorizationDetailTypes(types)
        self.types = types
        self.max_entries = max_entries

    def __call__(self, grant: Any) -> None:
        if isinstance(grant, AuthorizationEndpointMixin):
            grant.register_hook(
                "after_validate_authorization_request_payload",
                self.validate_authorization_details,
            )
        if isinstance(grant, TokenEndpointMixin):
            grant.register_hook("after_create_token_response", self.add_to_token_response)

    def validate_authorization_details(self, grant: Any, result: Any) -> None:
        """Parse and check the parameter; without one, ask for the request's defaults."""
        request: OAuth2Request = grant.request
        raw = request.payload.data.get(PARAMETER)
        if not raw:
            request.authorization_details = self.get_default_authorization_details(grant)
            return
        if len(request.payload.datalist.get(PARAMETER, [])) > 1:
            raise InvalidAuthorizationDetailsError(f"Send '{PARAMETER}' once.")
        entries = parse_authorization_details(raw, max_entries=self.max_entries)
        request.authorization_details = self.types.validate(grant, entries)

    def add_to_token_response(self, grant: Any, result: tuple[int, Any, Any]) -> None:
        """RFC 9396 §7: the token response says what the token grants."""
        _status, token, _headers = result
        details = self.get_granted_authorization_details(grant)
        if details is not None:
            token[PARAMETER] = details

    def get_default_authorization_details(self, grant: Any) -> list[dict[str, Any]] | None:
        """Return the details of an authorization request that sends none.

        RFC 9396 §3.1 lets a server derive them from ``scope``; developers MAY re-implement
        this. The default: the request asks for no details.
        """
        return None

    def get_granted_authorization_details(self, grant: Any) -> list[dict[str, Any]] | None:
        """Return what the token being issued grants, or ``None`` to add nothing.

        Developers MAY re-implement it in a subclass; the default reads the credential the
        token is issued for (the authorization code or the refresh token)::

            def get_granted_authorization_details(self, grant):
                credential = grant.request.authorization_code or grant.request.refresh_token
                return credential.get_authorization_details()
        """
        request: OAuth2Request = grant.request
        credential = request.authorization_code or request.refresh_token
        getter = getattr(credential, "get_authorization_details", None)
        return getter() if getter is not None else None
