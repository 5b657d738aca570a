"""RFC 8414 authorization server metadata: what the server supports, and where."""

from __future__ import annotations

from typing import Any

from broker.oauth.rfc9396 import AuthorizationDetailTypes
from broker.oauth.rfc9396 import metadata as details_metadata


def metadata(
    issuer: str, details_types: AuthorizationDetailTypes, *, profile: str = "baseline"
) -> dict[str, Any]:
    """The document served at ``/.well-known/oauth-authorization-server``; ``profile`` is the
    security profile in force (broker.config.SECURITY_PROFILES)."""
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
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
        **details_metadata(details_types),
        "scopes_supported": ["audit:read", "erasure:manage"],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{issuer}/docs",
        "ui_locales_supported": ["bg", "en"],
        "serdika_security_profile": profile,
    }
