"""http_json: a REST/JSON upstream, its resources and fields described in the configuration.

One instance reads one upstream (``base_url``) with its own credentials, through one pooled
HTTP client shared by every thread. Every read is bounded: ``timeout`` per request (connecting,
sending, waiting and reading, together), ``deadline`` for the whole read with its token
requests, retries and waits, so nothing hangs beyond ``deadline`` whatever the upstream does, a
slow drip included.

Options (keyword arguments; TOML tables arrive as dicts)::

    base_url = "https://asp.example.bg/api/"   # http:// only to a loopback host, unless
    allow_insecure_http = false                # this is true (cleartext personal data)
    label_bg = "..."  label_en = "..."
    timeout = 2.0             # seconds per request
    deadline = 5.0            # seconds per read, retries and waits included (>= timeout)
    retries = 2               # extra attempts after a connection error, a timeout or 502/503/504
    backoff = 0.2             # the first wait; doubles each attempt, plus up to as much jitter
    retry_after_cap = 2.0     # the longest Retry-After worth waiting for within a read
    breaker_failures = 5      # consecutive failed attempts that open the circuit
    breaker_reset = 30        # seconds until an open circuit lets one trial call through
    health_path = "/"         # health() GETs it, credentials included, and wants an answer
                              # below 500 that is not 401 or 403
    max_response_bytes = 1048576
    max_connections = 20

    [auth]                    # required
    type = "none" | "api_key" | "oauth_client_credentials"
    header = "X-API-Key"      # api_key
    key = "..."               # api_key
    token_url = "https://..." # oauth_client_credentials (RFC 6749 section 4.4)
    client_id = "..."  client_secret = "..."  scope = "..." (optional)

    [resources.<name>]
    label_bg = "..."  label_en = "..."
    path = "/people/{subject}/benefits"   # GET: {subject} is the URL-quoted national id
    method = "GET"                        # or "POST": the body {"national_id": ...}, no id in
                                          # the path
    subject_pointer = "/national_id"      # optional: the answer must echo the subject here
    not_found_status = [404]
    date_from_param = "from"  date_to_param = "to"   # query parameters of a dated read

    [resources.<name>.fields.<name>]
    pointer = "/allowance/monthly"        # RFC 6901 JSON pointer into the answer
    label_bg = "..."  label_en = "..."  dpv = "https://w3id.org/dpv/pd#..."
    sensitivity = "personal"              # low | personal | special
    optional = true                       # may the citizen leave it out of a consent
    dated = false                         # a list of {start, end, ...} records
    nullable = false

How answers are read, and why:

- A value the pointer does not find, or a JSON null, is :class:`BadUpstreamData` unless the
  field is ``nullable``; then it is ``None`` (``[]`` for a dated field, so the broker's gate
  still sees a list). A changed upstream schema then fails loudly instead of handing a service
  a silent ``null`` that reads as "no allowance".
- With ``subject_pointer``, the answer must hold the subject's national id there, as a string,
  or the read fails: an upstream bug can never hand one citizen's data to another's read.
- Dated records are filtered to the consent's window (an upstream may ignore the date
  parameters); a record without a valid ``start`` and ``end`` fails the read.
- The answer must be a JSON object of at most ``max_response_bytes``, sent uncompressed (the
  client asks for ``identity``, so a small compressed body can never expand past the cap).
- Redirects are not followed: the configured ``base_url`` is the only host ever contacted.

Failures: a status in ``not_found_status`` is :class:`SubjectNotFound`; connection errors,
timeouts and 502/503/504 are retried with exponential backoff and jitter (a 503's Retry-After is
honoured up to ``retry_after_cap``; a longer one ends the read at once and is passed on); other
4xx are never retried. What remains is :class:`SourceTimeout` or :class:`SourceUnavailable`
(``retry_after`` from the upstream, else ``breaker_reset``). A 401 makes an OAuth client fetch a
new token once; a refusal after that is :class:`SourceUnavailable` naming the credentials.

The circuit breaker counts failed attempts (connection errors, timeouts, 5xx). pybreaker keeps
its state, but its ``call()`` holds a lock for the whole guarded call (danielfm/pybreaker#3),
which would let one read at a time reach the upstream; so each attempt is admitted and its
outcome recorded in two short steps, and the upstream is called in between without a lock.
While the circuit is open, reads fail at once with ``retry_after`` = the seconds until it
half-opens; when it half-opens, one trial attempt goes through at a time.

Nothing here logs a national id or a value; httpx's own request log lines have their path and
query hidden (a GET names the national id in its path), and no secret is in a message or repr.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus

import httpcore
import httpx
import pybreaker
from jsonpointer import EndOfList, JsonPointer, JsonPointerException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from connectors.base import (
    BadUpstreamData,
    ConnectorConfigError,
    ConnectorDescription,
    ConnectorError,
    Constraints,
    FieldDescription,
    Health,
    ResourceDescription,
    Sensitivity,
    SourceTimeout,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
    requested_fields,
)
from connectors.limits import parse_instant, window

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # an RFC 9110 token
_MISSING = object()
_RETRYABLE_STATUS = frozenset({502, 503, 504})
_LONGEST_RETRY_AFTER = 86_400
_DRAIN_BYTES = 64 * 1024


# -- options -----------------------------------------------------------------------------------


def _text(setting: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConnectorConfigError(setting, "must be a non-empty string")
    return value


def _flag(setting: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConnectorConfigError(setting, "must be true or false")
    return value


class _Table:
    """One table of options; every error names the option by its dotted path."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise ConnectorConfigError(path, "must be a table")
        self.values = dict(value)
        self.path = path
        self._read: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self._read.add(key)
        value = self.values.get(key, default)
        if value is _MISSING:
            raise ConnectorConfigError(self.where(key), "is required")
        return value

    def text(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, default)
        return value if value is default else _text(self.where(key), value)

    def flag(self, key: str, default: bool) -> bool:
        return _flag(self.where(key), self.get(key, default))

    def table(self, key: str) -> _Table:
        return _Table(self.get(key), self.where(key))

    def finish(self) -> None:
        """Refuse options nobody reads, so a misspelt one is not silently ignored."""
        for key in sorted(self.values.keys() - self._read):
            raise ConnectorConfigError(self.where(key), "is not an option here")


def _number(setting: str, value: Any, *, minimum: float, integer: bool = False) -> Any:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
        or not math.isfinite(value)
    ):
        raise ConnectorConfigError(setting, "must be an integer" if integer else "must be a number")
    if value < minimum:
        raise ConnectorConfigError(setting, f"must be at least {minimum}")
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _upstream_url(setting: str, value: Any, allow_insecure_http: bool) -> httpx.URL:
    if not isinstance(value, str) or not value:
        raise ConnectorConfigError(setting, "must be a URL")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ConnectorConfigError(setting, f"is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConnectorConfigError(setting, "must be an https:// URL with a host")
    if url.scheme == "http" and not (allow_insecure_http or _is_loopback(url.host)):
        raise ConnectorConfigError(
            setting,
            "must be an https:// URL (http:// only to a loopback host, "
            "or with allow_insecure_http = true)",
        )
    if url.userinfo:
        raise ConnectorConfigError(setting, "must not carry credentials; use the auth table")
    if url.fragment:
        raise ConnectorConfigError(setting, "must not have a #fragment")
    return url


def _relative_path(setting: str, path: str) -> str:
    try:
        relative = httpx.URL(path).is_relative_url and not path.startswith("//")
    except httpx.InvalidURL:
        relative = False
    if not relative:
        raise ConnectorConfigError(setting, "must be a path under base_url")
    return path


def _pointer(setting: str, value: Any, *, whole_document: bool = False) -> JsonPointer:
    if not isinstance(value, str):
        raise ConnectorConfigError(setting, "must be a JSON pointer string such as '/a/b'")
    try:
        pointer = JsonPointer(value)
    except JsonPointerException as exc:
        raise ConnectorConfigError(setting, f"is not an RFC 6901 JSON pointer: {exc}") from None
    if not pointer.parts and not whole_document:
        raise ConnectorConfigError(setting, "must point inside the answer, not at all of it")
    if "-" in pointer.parts:
        raise ConnectorConfigError(setting, "'-' names no value (RFC 6901 section 4)")
    return pointer


def _resolve(pointer: JsonPointer, document: Any) -> Any:
    value = pointer.resolve(document, _MISSING)
    return _MISSING if isinstance(value, EndOfList) else value


@dataclass(frozen=True)
class _Field:
    pointer: JsonPointer
    nullable: bool
    description: FieldDescription


@dataclass(frozen=True)
class _Resource:
    path: str
    method: str
    subject_pointer: JsonPointer | None
    not_found: frozenset[int]
    date_params: tuple[str, str] | None
    fields: Mapping[str, _Field]
    description: ResourceDescription


def _labels(table: _Table) -> tuple[str, str]:
    return table.text("label_bg"), table.text("label_en")


def _field(name: str, table: _Table) -> _Field:
    label_bg, label_en = _labels(table)
    dpv = table.text("dpv")
    if not dpv.startswith("https://w3id.org/dpv"):
        raise ConnectorConfigError(
            table.where("dpv"), "must be a W3C DPV IRI (https://w3id.org/dpv...)"
        )
    sensitivity = table.text("sensitivity", "personal")
    if sensitivity not in {s.value for s in Sensitivity}:
        raise ConnectorConfigError(table.where("sensitivity"), "must be low, personal or special")
    result = _Field(
        pointer=_pointer(table.where("pointer"), table.get("pointer")),
        nullable=table.flag("nullable", False),
        description=FieldDescription(
            name,
            label_bg,
            label_en,
            dpv,
            Sensitivity(sensitivity),
            optional=table.flag("optional", True),
            dated=table.flag("dated", False),
        ),
    )
    table.finish()
    return result


def _resource(name: str, table: _Table) -> _Resource:
    label_bg, label_en = _labels(table)
    method = table.text("method", "GET").upper()
    if method not in ("GET", "POST"):
        raise ConnectorConfigError(table.where("method"), "must be GET or POST")
    path = table.text("path")
    placeholders = path.count("{subject}")
    if "{" in path.replace("{subject}", "") or "}" in path.replace("{subject}", ""):
        raise ConnectorConfigError(table.where("path"), "may hold no placeholder but {subject}")
    if method == "GET" and placeholders != 1:
        raise ConnectorConfigError(table.where("path"), "a GET path must hold {subject} once")
    if method == "POST" and placeholders:
        raise ConnectorConfigError(
            table.where("path"), "a POST sends the national id in its body, not in the path"
        )
    _relative_path(table.where("path"), path.replace("{subject}", "x"))
    subject_pointer = table.get("subject_pointer", None)
    not_found = table.get("not_found_status", [404])
    if not isinstance(not_found, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 400 <= s <= 499 for s in not_found
    ):
        raise ConnectorConfigError(table.where("not_found_status"), "must be a list of 4xx codes")
    fields_table = table.table("fields")
    fields = {}
    for field_name in fields_table.values:
        fields_table.get(field_name)
        if not _NAME.match(field_name):
            raise ConnectorConfigError(
                fields_table.where(field_name), "a field name is lower-case letters, digits and _"
            )
        fields[field_name] = _field(field_name, fields_table.table(field_name))
    if not fields:
        raise ConnectorConfigError(fields_table.path, "must describe at least one field")
    date_from, date_to = table.get("date_from_param", None), table.get("date_to_param", None)
    dated = any(f.description.dated for f in fields.values())
    for key, value in (("date_from_param", date_from), ("date_to_param", date_to)):
        if value is not None and (not isinstance(value, str) or not value or not dated):
            raise ConnectorConfigError(
                table.where(key), "must be a query parameter name, on a resource with dated fields"
            )
    if (date_from is None) != (date_to is None):
        raise ConnectorConfigError(table.where("date_to_param"), "set both date parameters or none")
    table.finish()
    return _Resource(
        path=path,
        method=method,
        subject_pointer=None
        if subject_pointer is None
        else _pointer(table.where("subject_pointer"), subject_pointer),
        not_found=frozenset(not_found),
        date_params=(date_from, date_to) if date_from is not None else None,
        fields=fields,
        description=ResourceDescription(
            name, label_bg, label_en, {n: f.description for n, f in fields.items()}
        ),
    )


# -- authentication ------------------------------------------------------------------------------


class _NoAuth:
    kind = "none"


@dataclass(frozen=True)
class _ApiKey:
    header: str
    key: str = field(repr=False)
    kind = "api_key"


@dataclass
class _ClientCredentials:
    """RFC 6749 section 4.4; the access token is cached until shortly before it expires."""

    token_url: httpx.URL
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0
    kind = "oauth_client_credentials"


_Auth = _NoAuth | _ApiKey | _ClientCredentials


def _auth(table: _Table, allow_insecure_http: bool) -> _Auth:
    kind = table.text("type")
    auth: _Auth
    if kind == "none":
        auth = _NoAuth()
    elif kind == "api_key":
        header = table.text("header", "X-API-Key")
        if not _HEADER_NAME.match(header):
            raise ConnectorConfigError(table.where("header"), "is not a valid HTTP header name")
        key = table.text("key")
        if not key.isprintable() or key != key.strip():
            raise ConnectorConfigError(table.where("key"), "must be one line of printable text")
        auth = _ApiKey(header, key)
    elif kind == "oauth_client_credentials":
        scope = table.get("scope", None)
        if scope is not None and (not isinstance(scope, str) or not scope.strip()):
            raise ConnectorConfigError(table.where("scope"), "must be a non-empty string")
        auth = _ClientCredentials(
            token_url=_upstream_url(
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


# -- bounding every socket operation by the attempt's end --------------------------------------

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


class _BoundedTransport(httpx.HTTPTransport):
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


def _hide_request_targets_in_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    with _log_filter_lock:
        if not any(isinstance(f, _HideRequestTargets) for f in logger.filters):
            logger.addFilter(_HideRequestTargets())


# -- the circuit breaker -------------------------------------------------------------------------


class _Outcome(Exception):
    """A failed attempt, replayed into pybreaker's state machine."""


def _succeed() -> None:
    return None


def _fail() -> NoReturn:
    raise _Outcome


class _Breaker:
    """pybreaker's state, consulted before an attempt and told its outcome after it."""

    def __init__(self, failures: int, reset: float) -> None:
        self._storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=failures, reset_timeout=reset, state_storage=self._storage
        )
        self._lock = threading.Lock()
        self._trial_running = False

    def _until_half_open(self) -> float:
        opened_at = self._storage.opened_at or datetime.now(UTC)
        reopens = opened_at + timedelta(seconds=self._breaker.reset_timeout)
        return (reopens - datetime.now(UTC)).total_seconds()

    def admit(self) -> bool:
        """Let an attempt through, or raise; True when it is the half-open circuit's trial."""
        with self._lock:
            state = self._breaker.current_state
            if state == pybreaker.STATE_OPEN:
                wait = self._until_half_open()
                if wait > 0:
                    raise SourceUnavailable(
                        "the upstream kept failing; the broker is not calling it for now",
                        retry_after=max(1, math.ceil(wait)),
                    )
                self._breaker.half_open()
                state = pybreaker.STATE_HALF_OPEN
            if state == pybreaker.STATE_HALF_OPEN:
                if self._trial_running:
                    raise SourceUnavailable(
                        "the upstream kept failing; a trial call is under way", retry_after=1
                    )
                self._trial_running = True
                return True
            return False

    def record(self, trial: bool, failed: bool | None) -> None:
        """Count the attempt's outcome; ``None`` says nothing about the upstream."""
        with self._lock:
            if trial:
                self._trial_running = False
            elif self._breaker.current_state != pybreaker.STATE_CLOSED:
                return  # admitted before the circuit opened: the trial decides now
            if failed is None:
                return
            with contextlib.suppress(pybreaker.CircuitBreakerError, _Outcome):
                self._breaker.call(_fail if failed else _succeed)
            if failed and self._breaker.current_state == pybreaker.STATE_OPEN:
                log.warning("http_json: circuit opened after repeated upstream failures")


# -- the connector -------------------------------------------------------------------------------


class _Failed(Exception):
    """A failed attempt that counts against the upstream; maybe worth another attempt."""

    def __init__(
        self, error: ConnectorError, *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes


def _retry_after(headers: httpx.Headers) -> float | None:
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


class _StopBeforeDeadline(stop_base):
    """Stop retrying when the next attempt would start past the read's deadline."""

    def __init__(self, deadline_at: float) -> None:
        self.deadline_at = deadline_at

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() + retry_state.upcoming_sleep >= self.deadline_at


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


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # from None: a decoding error carries the document, and with it personal data.
        raise BadUpstreamData(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise BadUpstreamData(f"{what} is not a JSON object")
    return document


class HttpJsonConnector:
    """Reads resources of a REST/JSON upstream, as its configuration describes them."""

    name = "http_json"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        label_bg: str | None = None,
        label_en: str | None = None,
        auth: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        timeout: float = 2.0,
        deadline: float = 5.0,
        retries: int = 2,
        backoff: float = 0.2,
        retry_after_cap: float = 2.0,
        breaker_failures: int = 5,
        breaker_reset: float = 30,
        health_path: str = "/",
        max_response_bytes: int = 1 << 20,
        max_connections: int = 20,
        allow_insecure_http: bool = False,
    ) -> None:
        self._insecure = _flag("allow_insecure_http", allow_insecure_http)
        if base_url is None:
            raise ConnectorConfigError("base_url", "is required")
        url = _upstream_url("base_url", base_url, self._insecure)
        if url.query:
            raise ConnectorConfigError("base_url", "must not have a ?query")
        self.base_url = str(url)
        for key, label in (("label_bg", label_bg), ("label_en", label_en)):
            if label is None:
                raise ConnectorConfigError(key, "is required")
        self._label_bg = _text("label_bg", label_bg)
        self._label_en = _text("label_en", label_en)
        self._health_path = _relative_path("health_path", _text("health_path", health_path))
        self._timeout = float(_number("timeout", timeout, minimum=0.001))
        self._deadline = float(_number("deadline", deadline, minimum=0.001))
        if self._deadline < self._timeout:
            raise ConnectorConfigError("deadline", "must be at least the timeout")
        self._retries = _number("retries", retries, minimum=0, integer=True)
        if self._retries > 10:
            raise ConnectorConfigError("retries", "must be at most 10")
        self._backoff = float(_number("backoff", backoff, minimum=0))
        self._retry_after_cap = float(_number("retry_after_cap", retry_after_cap, minimum=0))
        failures = _number("breaker_failures", breaker_failures, minimum=1, integer=True)
        reset = float(_number("breaker_reset", breaker_reset, minimum=0.001))
        self._default_retry_after = max(1, math.ceil(reset))
        self._max_bytes = _number("max_response_bytes", max_response_bytes, minimum=1, integer=True)
        connections = _number("max_connections", max_connections, minimum=1, integer=True)
        if auth is None:
            raise ConnectorConfigError(
                "auth",
                'is required: a table with type = "none", "api_key" or "oauth_client_credentials"',
            )
        self._auth = _auth(_Table(auth, "auth"), self._insecure)
        resources_table = _Table(resources if resources is not None else {}, "resources")
        self._resources: dict[str, _Resource] = {}
        for name in resources_table.values:
            if not _NAME.match(name):
                raise ConnectorConfigError(
                    resources_table.where(name),
                    "a resource name is lower-case letters, digits and _",
                )
            self._resources[name] = _resource(name, resources_table.table(name))
        if not self._resources:
            raise ConnectorConfigError("resources", "must describe at least one resource")
        self._description = ConnectorDescription(
            self.name,
            self._label_bg,
            self._label_en,
            {name: r.description for name, r in self._resources.items()},
        )
        self._breaker = _Breaker(failures, reset)
        self._backoff_wait = wait_exponential(multiplier=self._backoff, max=self._deadline) + (
            wait_random(0, self._backoff)
        )
        _hide_request_targets_in_httpx_log()
        # No I/O here: httpx connects on the first request.
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=_BoundedTransport(connections),
            follow_redirects=False,
            trust_env=False,
            headers={
                "Accept": "application/json",
                "Accept-Encoding": "identity",
                "User-Agent": "serdika-http-json",
            },
        )

    def __repr__(self) -> str:
        return f"<HttpJsonConnector {self.base_url} auth={self._auth.kind}>"

    def close(self) -> None:
        self._client.close()

    def describe(self) -> ConnectorDescription:
        return self._description

    # -- reads ---------------------------------------------------------------------------------

    def fetch(
        self,
        subject: SubjectRef,
        resource: str,
        fields: Collection[str],
        constraints: Constraints | None = None,
    ) -> dict[str, Any]:
        _, wanted = requested_fields(self._description, resource, fields)
        spec = self._resources[resource]
        dated = any(spec.fields[name].description.dated for name in wanted)
        if dated and (
            constraints is None or constraints.date_from is None or constraints.date_to is None
        ):
            raise ValueError("dated reads need a resolved date range")
        if not subject.national_id:
            raise SubjectNotFound("no national id to read")
        deadline_at = time.monotonic() + self._deadline
        document = self._with_retries(
            lambda: self._attempt(spec, subject, constraints if dated else None, deadline_at),
            deadline_at,
        )
        pointer = spec.subject_pointer
        if pointer is not None and _resolve(pointer, document) != subject.national_id:
            raise BadUpstreamData("the upstream's answer is not about the subject asked for")
        return {name: self._value(spec.fields[name], document, constraints) for name in wanted}

    def _value(
        self, spec: _Field, document: dict[str, Any], constraints: Constraints | None
    ) -> Any:
        value = _resolve(spec.pointer, document)
        if value is _MISSING or value is None:
            if not spec.nullable:
                raise BadUpstreamData(
                    f"the upstream's answer has no value for field {spec.description.name!r}"
                )
            return [] if spec.description.dated else None
        if not spec.description.dated:
            return value
        if not isinstance(value, list):
            raise BadUpstreamData(f"field {spec.description.name!r} is not a list of records")
        assert constraints is not None  # fetch() requires a date range for dated fields
        start, end = window(constraints)
        kept = []
        for record in value:
            if not isinstance(record, dict):
                raise BadUpstreamData(
                    f"a record of field {spec.description.name!r} is not an object"
                )
            first, after = parse_instant(record.get("start")), parse_instant(record.get("end"))
            if start <= first < after <= end:
                kept.append(record)
        return kept

    def _with_retries(
        self, attempt: Callable[[], dict[str, Any]], deadline_at: float
    ) -> dict[str, Any]:
        def worth_retrying(exc: BaseException) -> bool:
            return (
                isinstance(exc, _Failed)
                and exc.retryable
                and (exc.retry_after is None or exc.retry_after <= self._retry_after_cap)
            )

        def wait(state: RetryCallState) -> float:
            backoff = float(self._backoff_wait(state))
            failed = state.outcome.exception() if state.outcome else None
            if isinstance(failed, _Failed) and failed.retry_after is not None:
                return max(backoff, failed.retry_after)
            return backoff

        def before_sleep(state: RetryCallState) -> None:
            failed = state.outcome.exception() if state.outcome else None
            log.info(
                "http_json %s: %s; attempt %d again in %.2f s",
                self._client.base_url.host,
                failed,
                state.attempt_number + 1,
                state.upcoming_sleep,
            )

        retrying = Retrying(
            stop=stop_after_attempt(self._retries + 1) | _StopBeforeDeadline(deadline_at),
            wait=wait,
            retry=retry_if_exception(worth_retrying),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Failed as failed:
            error = failed.error
            if isinstance(error, SourceUnavailable):
                error.retry_after = (
                    max(1, math.ceil(failed.retry_after))
                    if failed.retry_after is not None
                    else self._default_retry_after
                )
            raise error from failed.__cause__

    def _attempt(
        self,
        spec: _Resource,
        subject: SubjectRef,
        constraints: Constraints | None,
        deadline_at: float,
    ) -> dict[str, Any]:
        if time.monotonic() >= deadline_at:
            raise SourceTimeout("the upstream did not answer within the deadline")
        trial = self._breaker.admit()
        failed: bool | None = None
        try:
            answer = self._call(spec, subject, constraints, deadline_at)
            failed = False
        except _Failed:
            failed = True
            raise
        except ConnectorError:
            failed = False  # the upstream answered, if not as hoped
            raise
        finally:
            self._breaker.record(trial, failed)
        if answer.status in spec.not_found:
            raise SubjectNotFound("the source holds no record of this subject")
        if answer.status in (401, 403):
            raise SourceUnavailable(
                f"the upstream refused the broker's credentials (HTTP {answer.status}); "
                "check the connector's auth settings",
                retry_after=self._default_retry_after,
            )
        if 300 <= answer.status < 400:
            raise BadUpstreamData(
                f"the upstream redirected (HTTP {answer.status}); "
                "base_url must be its final address"
            )
        if answer.status >= 400:
            raise SourceUnavailable(
                f"the upstream refused the read (HTTP {answer.status})",
                retry_after=math.ceil(_retry_after(answer.headers) or self._default_retry_after),
            )
        return _json_object(answer.body, "the upstream's answer")

    def _call(
        self,
        spec: _Resource,
        subject: SubjectRef,
        constraints: Constraints | None,
        deadline_at: float,
    ) -> _Answer:
        params: dict[str, str] = {}
        if spec.date_params is not None and constraints is not None:
            assert constraints.date_from is not None and constraints.date_to is not None
            params[spec.date_params[0]] = constraints.date_from.isoformat()
            params[spec.date_params[1]] = constraints.date_to.isoformat()
        if spec.method == "GET":
            # Dots too, so an id can never be a "." or ".." path segment.
            quoted = quote(subject.national_id, safe="").replace(".", "%2E")
            url, body = spec.path.replace("{subject}", quoted), None
        else:
            url, body = spec.path, {"national_id": subject.national_id}
        headers = self._credentials(deadline_at)
        answer = self._exchange(
            spec.method, url, headers=headers, params=params, json=body, deadline_at=deadline_at
        )
        if answer.status == 401 and isinstance(self._auth, _ClientCredentials):
            headers = self._credentials(deadline_at, stale=headers)
            answer = self._exchange(
                spec.method, url, headers=headers, params=params, json=body, deadline_at=deadline_at
            )
        return answer

    # -- HTTP ----------------------------------------------------------------------------------

    def _exchange(
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
    ) -> _Answer:
        """One request and its answer; a 2xx body is read whole, any other is dropped."""
        remaining = deadline_at - time.monotonic()
        if remaining <= 0:
            raise _Failed(
                SourceTimeout("the upstream did not answer within the deadline"), retryable=False
            )
        budget = min(self._timeout, remaining)
        request = self._client.build_request(
            method, url, headers=headers, params=params, json=json, data=data, timeout=budget
        )
        reset = _attempt_ends.set(time.monotonic() + budget)
        try:
            response = self._client.send(request, stream=True, auth=auth)
            try:
                body = self._body(response) if response.is_success else _drain(response)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise _Failed(
                SourceTimeout("the upstream did not answer in time"), retryable=True
            ) from exc
        except httpx.ConnectError as exc:
            raise _Failed(
                SourceUnavailable("cannot connect to the upstream"), retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            raise _Failed(
                SourceUnavailable(f"the upstream broke the exchange ({type(exc).__name__})"),
                retryable=False,
            ) from exc
        finally:
            _attempt_ends.reset(reset)
        if response.status_code in _RETRYABLE_STATUS or response.status_code >= 500:
            raise _Failed(
                SourceUnavailable(f"the upstream answered HTTP {response.status_code}"),
                retryable=response.status_code in _RETRYABLE_STATUS,
                retry_after=_retry_after(response.headers),
            )
        return _Answer(response.status_code, response.headers, body)

    def _body(self, response: httpx.Response) -> bytes:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise BadUpstreamData("the upstream's answer is compressed although asked not to be")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise BadUpstreamData(f"the upstream's answer is larger than {self._max_bytes} bytes")
        chunks, size = [], 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > self._max_bytes:
                raise BadUpstreamData(
                    f"the upstream's answer is larger than {self._max_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    # -- credentials ---------------------------------------------------------------------------

    def _credentials(
        self, deadline_at: float, stale: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        auth = self._auth
        if isinstance(auth, _ApiKey):
            return {auth.header: auth.key}
        if not isinstance(auth, _ClientCredentials):
            return {}
        stale_token = (stale or {}).get("Authorization", "").removeprefix("Bearer ")
        # One thread fetches a token while the others wait for it, each no longer than its read.
        if not auth.lock.acquire(timeout=max(0.0, deadline_at - time.monotonic())):
            raise _Failed(
                SourceTimeout("the upstream's token did not arrive in time"), retryable=False
            )
        try:
            if (
                auth.token is None
                or auth.token == stale_token
                or time.monotonic() >= auth.expires_at
            ):
                auth.token, auth.expires_at = self._new_token(auth, deadline_at)
            return {"Authorization": f"Bearer {auth.token}"}
        finally:
            auth.lock.release()

    def _new_token(self, auth: _ClientCredentials, deadline_at: float) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        # RFC 6749 section 2.3.1: the id and secret are form-encoded before Basic encoding.
        basic = httpx.BasicAuth(quote_plus(auth.client_id), quote_plus(auth.client_secret))
        answer = self._exchange(
            "POST", auth.token_url, data=form, auth=basic, deadline_at=deadline_at
        )
        if answer.status != 200:
            raise SourceUnavailable(
                f"the upstream's token endpoint refused the client credentials "
                f"(HTTP {answer.status}); check the connector's auth settings",
                retry_after=self._default_retry_after,
            )
        token = _json_object(answer.body, "the token endpoint's answer")
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

    # -- health --------------------------------------------------------------------------------

    def health(self) -> Health:
        deadline_at = time.monotonic() + self._timeout
        try:
            answer = self._exchange(
                "GET",
                self._health_path,
                headers=self._credentials(deadline_at),
                deadline_at=deadline_at,
            )
        except _Failed as failed:
            cause = failed.__cause__
            detail = str(failed.error)
            if isinstance(cause, httpx.ConnectError) and str(cause):
                detail = f"{detail}: {cause}"
            return Health(False, detail)
        except ConnectorError as exc:
            return Health(False, str(exc))
        if answer.status in (401, 403):
            return Health(False, f"the upstream refused the credentials (HTTP {answer.status})")
        return Health(True, f"HTTP {answer.status}")
