"""The http_json connector: reads with a deadline, retries with backoff, behind a breaker.

See :mod:`connectors.http_json` for its options and how it reads answers.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import quote

import httpx
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
    Health,
    SourceTimeout,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
    requested_fields,
)
from connectors.http_json.auth import ClientCredentials, credentials, parse_auth
from connectors.http_json.breaker import Breaker
from connectors.http_json.options import (
    MISSING,
    NAME,
    FieldSpec,
    ResourceSpec,
    Table,
    flag,
    number,
    parse_resource,
    relative_path,
    resolve,
    text,
    upstream_url,
)
from connectors.http_json.transport import Answer, Failed, Upstream, json_object, parse_retry_after
from connectors.limits import parse_instant, window

#: The package's logger, whatever module logs: operators configure ``connectors.http_json``.
log = logging.getLogger("connectors.http_json")


class _StopBeforeDeadline(stop_base):
    """Stop retrying when the next attempt would start past the read's deadline."""

    def __init__(self, deadline_at: float) -> None:
        self.deadline_at = deadline_at

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() + retry_state.upcoming_sleep >= self.deadline_at


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
        self._insecure = flag("allow_insecure_http", allow_insecure_http)
        if base_url is None:
            raise ConnectorConfigError("base_url", "is required")
        url = upstream_url("base_url", base_url, self._insecure)
        if url.query:
            raise ConnectorConfigError("base_url", "must not have a ?query")
        self.base_url = str(url)
        for key, label in (("label_bg", label_bg), ("label_en", label_en)):
            if label is None:
                raise ConnectorConfigError(key, "is required")
        self._label_bg = text("label_bg", label_bg)
        self._label_en = text("label_en", label_en)
        self._health_path = relative_path("health_path", text("health_path", health_path))
        self._timeout = float(number("timeout", timeout, minimum=0.001))
        self._deadline = float(number("deadline", deadline, minimum=0.001))
        if self._deadline < self._timeout:
            raise ConnectorConfigError("deadline", "must be at least the timeout")
        self._retries = number("retries", retries, minimum=0, integer=True)
        if self._retries > 10:
            raise ConnectorConfigError("retries", "must be at most 10")
        self._backoff = float(number("backoff", backoff, minimum=0))
        self._retry_after_cap = float(number("retry_after_cap", retry_after_cap, minimum=0))
        failures = number("breaker_failures", breaker_failures, minimum=1, integer=True)
        reset = float(number("breaker_reset", breaker_reset, minimum=0.001))
        self._default_retry_after = max(1, math.ceil(reset))
        self._max_bytes = number("max_response_bytes", max_response_bytes, minimum=1, integer=True)
        connections = number("max_connections", max_connections, minimum=1, integer=True)
        if auth is None:
            raise ConnectorConfigError(
                "auth",
                'is required: a table with type = "none", "api_key" or "oauth_client_credentials"',
            )
        self._auth = parse_auth(Table(auth, "auth"), self._insecure)
        resources_table = Table(resources if resources is not None else {}, "resources")
        self._resources: dict[str, ResourceSpec] = {}
        for name in resources_table.values:
            if not NAME.match(name):
                raise ConnectorConfigError(
                    resources_table.where(name),
                    "a resource name is lower-case letters, digits and _",
                )
            self._resources[name] = parse_resource(name, resources_table.table(name))
        if not self._resources:
            raise ConnectorConfigError("resources", "must describe at least one resource")
        self._description = ConnectorDescription(
            self.name,
            self._label_bg,
            self._label_en,
            {name: r.description for name, r in self._resources.items()},
        )
        self._breaker = Breaker(failures, reset)
        self._backoff_wait = wait_exponential(multiplier=self._backoff, max=self._deadline) + (
            wait_random(0, self._backoff)
        )
        self._upstream = Upstream(
            self.base_url,
            timeout=self._timeout,
            max_bytes=self._max_bytes,
            max_connections=connections,
        )

    def __repr__(self) -> str:
        return f"<HttpJsonConnector {self.base_url} auth={self._auth.kind}>"

    def close(self) -> None:
        self._upstream.close()

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
        if pointer is not None and resolve(pointer, document) != subject.national_id:
            raise BadUpstreamData("the upstream's answer is not about the subject asked for")
        return {name: self._value(spec.fields[name], document, constraints) for name in wanted}

    def _value(
        self, spec: FieldSpec, document: dict[str, Any], constraints: Constraints | None
    ) -> Any:
        value = resolve(spec.pointer, document)
        if value is MISSING or value is None:
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
                isinstance(exc, Failed)
                and exc.retryable
                and (exc.retry_after is None or exc.retry_after <= self._retry_after_cap)
            )

        def wait(state: RetryCallState) -> float:
            backoff = float(self._backoff_wait(state))
            failed = state.outcome.exception() if state.outcome else None
            if isinstance(failed, Failed) and failed.retry_after is not None:
                return max(backoff, failed.retry_after)
            return backoff

        def before_sleep(state: RetryCallState) -> None:
            failed = state.outcome.exception() if state.outcome else None
            log.info(
                "http_json %s: %s; attempt %d again in %.2f s",
                self._upstream.client.base_url.host,
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
        except Failed as failed:
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
        spec: ResourceSpec,
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
        except Failed:
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
                retry_after=math.ceil(
                    parse_retry_after(answer.headers) or self._default_retry_after
                ),
            )
        return json_object(answer.body, "the upstream's answer")

    def _call(
        self,
        spec: ResourceSpec,
        subject: SubjectRef,
        constraints: Constraints | None,
        deadline_at: float,
    ) -> Answer:
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
        answer = self._upstream.exchange(
            spec.method, url, headers=headers, params=params, json=body, deadline_at=deadline_at
        )
        if answer.status == 401 and isinstance(self._auth, ClientCredentials):
            headers = self._credentials(deadline_at, stale=headers)
            answer = self._upstream.exchange(
                spec.method, url, headers=headers, params=params, json=body, deadline_at=deadline_at
            )
        return answer

    def _credentials(
        self, deadline_at: float, stale: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        return credentials(
            self._auth,
            self._upstream,
            deadline_at,
            retry_after=self._default_retry_after,
            stale=stale,
        )

    # -- health --------------------------------------------------------------------------------

    def health(self) -> Health:
        deadline_at = time.monotonic() + self._timeout
        try:
            answer = self._upstream.exchange(
                "GET",
                self._health_path,
                headers=self._credentials(deadline_at),
                deadline_at=deadline_at,
            )
        except Failed as failed:
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
