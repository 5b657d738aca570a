"""broker.oauth.rfc9396.
~~~~~~~~~~~~~~~~~~~~~

OAuth 2.0 Rich Authorization Requests: the ``authorization_details`` parameter, its types,
and what it adds to the token response, introspection and server metadata.

Framework-free, and shaped like Authlib's own RFC packages: it imports Authlib and the
standard library only, so it could be offered to Authlib as it stands.

:rfc:`9396`
"""

from .discovery import AuthorizationServerMetadata, metadata
from .errors import InvalidAuthorizationDetailsError
from .extension import AuthorizationDetails
from .introspection import introspection_members
from .parameter import PARAMETER, parse_authorization_details
from .registry import AuthorizationDetailType, AuthorizationDetailTypes

__all__ = [
    "PARAMETER",
    "AuthorizationDetailType",
    "AuthorizationDetailTypes",
    "AuthorizationDetails",
    "AuthorizationServerMetadata",
    "InvalidAuthorizationDetailsError",
    "introspection_members",
    "metadata",
    "parse_authorization_details",
]
