"""The OAuth 2.0 authorization server (Authlib), hardened to RFC 9700 and FAPI 2.0."""

from broker.oauth.server import init_oauth

__all__ = ["init_oauth"]
