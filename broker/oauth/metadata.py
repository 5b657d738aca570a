"""RFC 8414 authorization server metadata: what the server supports, and where."""

from __future__ import annotations

from typing import Any

from broker.oauth.clients import client_auth_methods
from broker.oauth.grant_management import QUERY_SCOPE, REVOKE_SCOPE
from broker.oauth.grant_management import metadata as grant_management_metadata
from broker.oauth.rfc7523 import metadata as private_key_jwt_metadata
from broker.oauth.rfc9126 import metadata as pushed_requests_metadata
from broker.oauth.rfc9396 import AuthorizationDetailTypes
from broker.oauth.rfc9396 import metadata as details_metadata
from broker.oauth.rfc9449 import metadata as dpop_metadata


def metadata(
    issuer: str, details_types: AuthorizationDetailTypes, *, profile: str = "baseline"
) -> dict[str, Any]:
    """The document served at ``/.well-known/oauth-authorization-server``; ``profile`` is the
    security profile in force (broker.config.SECURITY_PROFILES)."""
    auth_methods = client_auth_methods(profile == "fapi2")
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        # The same methods at every endpoint (broker.oauth.server); RFC 7523 §2.2.
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        **private_key_jwt_metadata(),
        **details_metadata(details_types),
        **dpop_metadata(),
        # RFC 9126 §5: under fapi2 every authorization request is pushed (FAPI 2.0 §5.3.1.2).
        **pushed_requests_metadata(f"{issuer}/oauth2/par", required=profile == "fapi2"),
        "scopes_supported": ["audit:read", "erasure:manage", QUERY_SCOPE, REVOKE_SCOPE],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{issuer}/docs",
        "ui_locales_supported": ["bg", "en"],
        **grant_management_metadata(f"{issuer}/oauth2/grants"),
        "serdika_security_profile": profile,
    }
