"""The OAuth 2.0 authorization server (Authlib), hardened to RFC 9700 and FAPI 2.0.

``wiring`` puts it together; ``server`` is the server the wallet is handed; ``grants``,
``endpoints``, ``token_store``, ``clients`` and ``metadata`` are its parts; ``rfc9396`` is
Rich Authorization Requests, framework-free, and ``personal_data`` Serdika's type in it.
"""

from broker.oauth.wiring import init_oauth

__all__ = ["init_oauth"]
