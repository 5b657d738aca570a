"""Serdika's side of ``private_key_jwt`` (:mod:`broker.oauth.rfc7523`): where a service's public
keys are, and one store of used assertion ``jti`` values for every node.

Keys come from the service's registered JWK Set, or from its ``jwks_uri``: fetched with a
short timeout, kept per worker for :attr:`ServiceKeys.max_age`, and fetched again at most
once per request when an assertion names a ``kid`` the kept set lacks (the client rotated
its keys), never more often than :attr:`ServiceKeys.refetch_interval`. A fetched set passes
the same check as a registered one (:func:`consent.client_keys.check_public_jwks`).

Used ``jti`` values go into ``oauth_used_jtis`` (kind ``client_assertion``): the primary key
makes a second use fail on any node (RFC 7523 §3, item 7).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from broker.oauth.rfc7523 import PrivateKeyJWT
from broker.oauth.used_jtis import UsedJtis
from consent.client_keys import InvalidClientKeys, check_public_jwks

if TYPE_CHECKING:
    from broker.db import Database
    from broker.parts import Broker

log = logging.getLogger(__name__)

JTI_KIND = "client_assertion"
#: The largest JWK Set document read from a jwks_uri.
MAX_JWKS_BYTES = 64 * 1024


@dataclass
class _Fetched:
    jwks: dict[str, Any] | None
    at: float


class ServiceKeys:
    """The :class:`~broker.oauth.rfc7523.ClientKeys` of registered services (per worker)."""

    #: Seconds a fetched JWK Set is used before it is fetched again.
    max_age: float = 300.0
    #: The least time between two fetches of one jwks_uri for an unknown ``kid``.
    refetch_interval: float = 10.0
    #: Seconds to wait for a jwks_uri (connect and read each).
    timeout: float = 2.0

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._fetched: dict[str, _Fetched] = {}
        self._lock = threading.Lock()

    def key_set(self, client: Any, *, refresh: bool) -> dict[str, Any] | None:
        service = client.service
        if service.token_endpoint_auth_method != PrivateKeyJWT.CLIENT_AUTH_METHOD:
            return None
        if service.jwks is not None:
            return dict(service.jwks)
        uri = service.jwks_uri
        if not uri:
            return None
        with self._lock:
            kept = self._fetched.get(uri)
            now = self._clock()
            if kept is not None:
                age = now - kept.at
                if age < (self.refetch_interval if refresh else self.max_age):
                    return kept.jwks
            jwks = self._fetch(uri)
            if jwks is None and kept is not None and now - kept.at < self.max_age:
                jwks = kept.jwks  # a failed re-fetch keeps the set still in date
            self._fetched[uri] = _Fetched(jwks, now)
            return jwks

    def _fetch(self, uri: str) -> dict[str, Any] | None:
        try:
            with httpx.stream(
                "GET",
                uri,
                timeout=self.timeout,
                follow_redirects=False,
                headers={"Accept": "application/jwk-set+json, application/json"},
            ) as response:
                if response.status_code != 200:
                    raise InvalidClientKeys(f"answered {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise InvalidClientKeys("the document is too large")
            return check_public_jwks(json.loads(body))
        except (httpx.HTTPError, InvalidClientKeys, ValueError) as exc:
            # The URI is the service's public one; the document's keys are never logged.
            log.warning("JWKS of a client not usable from %s: %s", uri, exc)
            return None


class UsedAssertions:
    """The :class:`~broker.oauth.rfc7523.SpentJtis` of the broker (broker.oauth.used_jtis)."""

    def __init__(self, db: Database) -> None:
        self.used = UsedJtis(db, JTI_KIND)

    def spend(self, client_id: str, jti: str, expires_at: int) -> bool:
        # A jti is unique per issuer (RFC 7519 §4.1.7): the client's, so both are hashed.
        return self.used.spend(client_id, jti, datetime.fromtimestamp(expires_at, tz=UTC))


def private_key_jwt(broker: Broker) -> PrivateKeyJWT:
    """The method as the broker registers it: the issuer, the token endpoint and the PAR
    endpoint as audiences (FAPI 2.0 §5.3.2.1; RFC 7523 §3; RFC 9126 §2)."""
    issuer = broker.settings.issuer
    return PrivateKeyJWT(
        [issuer, f"{issuer}/oauth2/token", f"{issuer}/oauth2/par"],
        ServiceKeys(),
        UsedAssertions(broker.db),
    )
