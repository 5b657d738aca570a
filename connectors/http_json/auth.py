"""How http_json authenticates to its upstream: none, an API key, or OAuth client credentials.

For ``oauth_client_credentials`` (RFC 6749 section 4.4) one thread fetches a token while the
others wait for it, each no longer than its read; the token is kept until shortly before it
expires, or until the upstream answers 401. No secret is in a message or repr.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import httpx

from connectors.base import BadUpstreamData, ConnectorConfigError, SourceTimeout, SourceUnavailable
from connectors.http_json.options import HEADER_NAME, Table, upstream_url
from connectors.http_json.transport import Failed, Upstream, json_object


class NoAuth:
    kind = "none"


@dataclass(frozen=True)
class ApiKey:
    header: str
    key: str = field(repr=False)
    kind = "api_key"


@dataclass
class ClientCredentials:
    """RFC 6749 section 4.4; the access token is cached until shortly before it expires."""

    token_url: httpx.URL
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0
    kind = "oauth_client_credentials"


Auth = NoAuth | ApiKey | ClientCredentials


def parse_auth(table: Table, allow_insecure_http: bool) -> Auth:
    kind = table.text("type")
    auth: Auth
    if kind == "none":
        auth = NoAuth()
    elif kind == "api_key":
        header = table.text("header", "X-API-Key")
        if not HEADER_NAME.match(header):
            raise ConnectorConfigError(table.where("header"), "is not a valid HTTP header name")
        key = table.text("key")
        if not key.isprintable() or key != key.strip():
            raise ConnectorConfigError(table.where("key"), "must be one line of printable text")
        auth = ApiKey(header, key)
    elif kind == "oauth_client_credentials":
        scope = table.get("scope", None)
        if scope is not None and (not isinstance(scope, str) or not scope.strip()):
            raise ConnectorConfigError(table.where("scope"), "must be a non-empty string")
        auth = ClientCredentials(
            token_url=upstream_url(
                table.where("token_url"), table.get("token_url"), allow_insecure_http
            ),
            client_id=table.text("client_id"),
            client_secret=table.text("client_secret"),
            scope=scope,
        )
    else:
        raise ConnectorConfigError(
            table.where("type"), "must be none, api_key or oauth_client_credentials"
        )
    table.finish()
    return auth


def credentials(
    auth: Auth,
    upstream: Upstream,
    deadline_at: float,
    *,
    retry_after: int,
    stale: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers that authenticate a request; a client-credentials token fetched if need be.

    ``stale`` are the headers of a request the upstream refused with 401: their token is
    replaced even if it has not expired. ``retry_after`` goes with a refused token request.
    """
    if isinstance(auth, ApiKey):
        return {auth.header: auth.key}
    if not isinstance(auth, ClientCredentials):
        return {}
    stale_token = (stale or {}).get("Authorization", "").removeprefix("Bearer ")
    # One thread fetches a token while the others wait for it, each no longer than its read.
    if not auth.lock.acquire(timeout=max(0.0, deadline_at - time.monotonic())):
        raise Failed(SourceTimeout("the upstream's token did not arrive in time"), retryable=False)
    try:
        if auth.token is None or auth.token == stale_token or time.monotonic() >= auth.expires_at:
            auth.token, auth.expires_at = new_token(auth, upstream, deadline_at, retry_after)
        return {"Authorization": f"Bearer {auth.token}"}
    finally:
        auth.lock.release()


def new_token(
    auth: ClientCredentials, upstream: Upstream, deadline_at: float, retry_after: int
) -> tuple[str, float]:
    """Ask the token endpoint for an access token; return it and when to renew it."""
    form = {"grant_type": "client_credentials"}
    if auth.scope:
        form["scope"] = auth.scope
    # RFC 6749 section 2.3.1: the id and secret are form-encoded before Basic encoding.
    basic = httpx.BasicAuth(quote_plus(auth.client_id), quote_plus(auth.client_secret))
    answer = upstream.exchange(
        "POST", auth.token_url, data=form, auth=basic, deadline_at=deadline_at
    )
    if answer.status != 200:
        raise SourceUnavailable(
            f"the upstream's token endpoint refused the client credentials "
            f"(HTTP {answer.status}); check the connector's auth settings",
            retry_after=retry_after,
        )
    token = json_object(answer.body, "the token endpoint's answer")
    access_token, token_type = token.get("access_token"), token.get("token_type", "Bearer")
    expires_in = token.get("expires_in")
    if not isinstance(access_token, str) or not access_token:
        raise BadUpstreamData("the token endpoint's answer has no access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise BadUpstreamData("the token endpoint issued no bearer token")
    if expires_in is None:
        return access_token, math.inf  # kept until the upstream answers 401
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        raise BadUpstreamData("the token endpoint's expires_in is not a number")
    # Renew a little early, so a token does not expire on its way to the upstream.
    margin = min(30.0, expires_in / 10)
    return access_token, time.monotonic() + expires_in - margin
