"""http_json's HTTP: a pooled client whose every socket operation ends with its attempt.

httpx's timeouts apply to each socket operation, so an upstream that drips a byte just inside
the read timeout could hold a read for ever; here every read, write, connect and TLS handshake
is bounded by what is left of the attempt. An answer's body is read whole only when it is a
2xx of at most ``max_bytes`` sent uncompressed; redirects are never followed; httpx's request
log lines have their path and query hidden (a GET names the national id in its path).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpcore
import httpx

from connectors.base import BadUpstreamData, ConnectorError, SourceTimeout, SourceUnavailable

RETRYABLE_STATUS = frozenset({502, 503, 504})
_LONGEST_RETRY_AFTER = 86_400
_DRAIN_BYTES = 64 * 1024

_attempt_ends: ContextVar[float | None] = ContextVar("http_json_attempt_ends", default=None)


def _bounded(timeout: float | None, timed_out: type[Exception]) -> float | None:
    ends = _attempt_ends.get()
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise timed_out("the attempt's time is up")
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(
            self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class BoundedTransport(httpx.HTTPTransport):
    """httpx's transport on a pool whose sockets never outlive the attempt.

    httpx's timeouts apply to each socket operation, so an upstream that drips a byte just
    inside the read timeout could hold a read for ever; httpx has no option for the network
    backend, hence the pool is replaced (its only private attribute we touch).
    """

    def __init__(self, max_connections: int) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=_BoundedBackend(),
        )


class _HideRequestTargets(logging.Filter):
    """Drop the path and query from httpx's request log lines: a GET path names a citizen."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], httpx.URL):
            url = args[1]
            record.args = (args[0], f"{url.scheme}://{url.netloc.decode('ascii')}/…", *args[2:])
        return True


_log_filter_lock = threading.Lock()


def hide_request_targets_in_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    with _log_filter_lock:
        if not any(isinstance(f, _HideRequestTargets) for f in logger.filters):
            logger.addFilter(_HideRequestTargets())


class Failed(Exception):
    """A failed attempt that counts against the upstream; maybe worth another attempt."""

    def __init__(
        self, error: ConnectorError, *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 section 10.2.3), if it has one."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(min(int(value), _LONGEST_RETRY_AFTER))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), _LONGEST_RETRY_AFTER)


def _drain(response: httpx.Response) -> bytes:
    """Read a short error body, so its connection can serve the next read; drop a long one."""
    size = 0
    with contextlib.suppress(httpx.HTTPError):
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > _DRAIN_BYTES:
                break
    return b""


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # from None: a decoding error carries the document, and with it personal data.
        raise BadUpstreamData(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise BadUpstreamData(f"{what} is not a JSON object")
    return document


class Upstream:
    """One upstream's pooled HTTP client, shared by every thread; each exchange bounded."""

    def __init__(
        self, base_url: str, *, timeout: float, max_bytes: int, max_connections: int
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        hide_request_targets_in_httpx_log()
        # No I/O here: httpx connects on the first request.
        self.client = httpx.Client(
            base_url=base_url,
            transport=BoundedTransport(max_connections),
            follow_redirects=False,
            trust_env=False,
            headers={
                "Accept": "application/json",
                "Accept-Encoding": "identity",
                "User-Agent": "serdika-http-json",
            },
        )

    def close(self) -> None:
        self.client.close()

    def exchange(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        deadline_at: float,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> Answer:
        """One request and its answer; a 2xx body is read whole, any other is dropped."""
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            raise Failed(
                SourceTimeout("the upstream did not answer within the deadline"), retryable=False
            )
        budget = min(self.timeout, remaining)
        request = self.client.build_request(
            method, url, headers=headers, params=params, json=json, data=data, timeout=budget
        )
        reset = _attempt_ends.set(time.monotonic() + budget)
        try:
            response = self.client.send(request, stream=True, auth=auth)
            try:
                body = self._body(response) if response.is_success else _drain(response)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise Failed(
                SourceTimeout("the upstream did not answer in time"), retryable=True
            ) from exc
        except httpx.ConnectError as exc:
            raise Failed(
                SourceUnavailable("cannot connect to the upstream"), retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            raise Failed(
                SourceUnavailable(f"the upstream broke the exchange ({type(exc).__name__})"),
                retryable=False,
            ) from exc
        finally:
            _attempt_ends.reset(reset)
        if response.status_code in RETRYABLE_STATUS or response.status_code >= 500:
            raise Failed(
                SourceUnavailable(f"the upstream answered HTTP {response.status_code}"),
                retryable=response.status_code in RETRYABLE_STATUS,
                retry_after=parse_retry_after(response.headers),
            )
        return Answer(response.status_code, response.headers, body)

    def _body(self, response: httpx.Response) -> bytes:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise BadUpstreamData("the upstream's answer is compressed although asked not to be")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BadUpstreamData(f"the upstream's answer is larger than {self.max_bytes} bytes")
        chunks, size = [], 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > self.max_bytes:
                raise BadUpstreamData(
                    f"the upstream's answer is larger than {self.max_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)
