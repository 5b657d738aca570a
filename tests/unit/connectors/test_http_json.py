"""http_json against real HTTP servers on loopback: reads, credentials, faults and limits."""

from __future__ import annotations

import base64
import copy
import gzip
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import httpx
import pytest

from commons import egn
from connectors.base import (
    BadUpstreamData,
    ConnectorConfigError,
    Constraints,
    SourceTimeout,
    SourceUnavailable,
    SubjectNotFound,
    SubjectRef,
)
from connectors.contract import ConnectorContract
from connectors.http_json import HttpJsonConnector
from connectors.registry import ConnectorSpec, instantiate
from demo.social_assistance import demo_benefits, demo_connector_options
from demo.upstream import SocialAssistanceUpstream
from tests.unit.connectors.upstream import Reply, Seen, Upstream

SUBJECT = SubjectRef("8803144710")
OTHER = SubjectRef("8511021862")
PATH = f"/api/people/{SUBJECT.national_id}/benefits"
API_KEY = "test-api-key-0123456789"
CLIENT_ID = "serdika-sofia"
CLIENT_SECRET = "s3cret:with+special/chars"  # RFC 6749 section 2.3.1 form-encodes these
DPV = "https://w3id.org/dpv/pd#"
WINDOW = Constraints(date(2025, 11, 1), date(2025, 12, 31))
#: What a bounded read may take beyond its deadline on a busy machine.
MARGIN = 0.5


def field(pointer: str, category: str = "Income", **flags: Any) -> dict[str, Any]:
    return {
        "pointer": pointer,
        "label_bg": "Поле",
        "label_en": "Field",
        "dpv": DPV + category,
        **flags,
    }


def options(upstream: Upstream, **changes: Any) -> dict[str, Any]:
    """A connector of the test upstream's benefits API; ``changes`` replace top-level options."""
    return {
        "base_url": upstream.url + "/api/",
        "label_bg": "Агенция за социално подпомагане",
        "label_en": "Social Assistance Agency",
        "timeout": 0.5,
        "deadline": 2.0,
        "retries": 2,
        "backoff": 0.01,
        "retry_after_cap": 1.5,
        "breaker_failures": 10,
        "breaker_reset": 0.5,
        "health_path": "/health",
        "auth": {"type": "api_key", "header": "X-API-Key", "key": API_KEY},
        "resources": {
            "benefits": {
                "label_bg": "Социални помощи",
                "label_en": "Benefits",
                "path": "/people/{subject}/benefits",
                "subject_pointer": "/national_id",
                "date_from_param": "from",
                "date_to_param": "to",
                "fields": {
                    "monthly_allowance": field("/allowance/monthly"),
                    "status": field("/allowance/status", "FinancialStatus", optional=False),
                    "payments": field("/payments", "Transactional", dated=True),
                },
            }
        },
        **changes,
    }


def changed(settings: dict[str, Any], setting: str, value: Any) -> dict[str, Any]:
    """``settings`` with the option at dotted path ``setting`` set (or removed, for ...)."""
    result = copy.deepcopy(settings)
    *parents, last = setting.split(".")
    table = result
    for key in parents:
        table = table[key]
    if value is ...:
        del table[last]
    else:
        table[last] = value
    return result


def benefits(national_id: str = SUBJECT.national_id, **changes: Any) -> dict[str, Any]:
    return {
        "national_id": national_id,
        "allowance": {"monthly": 51.95, "status": "granted"},
        "payments": [
            {"start": "2025-11-01", "end": "2025-12-01", "amount": 51.95},
            {"start": "2025-12-01", "end": "2026-01-01", "amount": 51.95},
            {"start": "2026-01-01", "end": "2026-02-01", "amount": 51.95},
        ],
        **changes,
    }


def with_key(reply: Reply) -> Callable[[Seen], Reply]:
    def answer(seen: Seen) -> Reply:
        return reply if seen.headers.get("x-api-key") == API_KEY else Reply(401)

    return answer


def read(
    connector: HttpJsonConnector,
    subject: SubjectRef = SUBJECT,
    fields: tuple[str, ...] = ("monthly_allowance", "status", "payments"),
) -> dict[str, Any]:
    return connector.fetch(subject, "benefits", list(fields), WINDOW)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture
def connect(upstream: Upstream) -> Iterator[Callable[..., HttpJsonConnector]]:
    made: list[HttpJsonConnector] = []

    def connect(settings: dict[str, Any] | None = None, **changes: Any) -> HttpJsonConnector:
        connector = HttpJsonConnector(**(settings or options(upstream, **changes)))
        made.append(connector)
        return connector

    yield connect
    for connector in made:
        connector.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- reads -----------------------------------------------------------------------------------


def test_reads_the_fields_asked_with_the_api_key(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, with_key(Reply(200, benefits())))
    connector = connect()

    data = read(connector)

    assert data == {
        "monthly_allowance": 51.95,
        "status": "granted",
        # January lies outside the window, although the upstream sent it.
        "payments": benefits()["payments"][:2],
    }
    (seen,) = upstream.requests(PATH)
    assert seen.query == {"from": ["2025-11-01"], "to": ["2025-12-31"]}
    assert seen.headers["accept"] == "application/json"
    assert read(connector, fields=("status",)) == {"status": "granted"}


def test_a_read_without_dated_fields_sends_no_dates(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, with_key(Reply(200, benefits())))

    data = connect().fetch(SUBJECT, "benefits", ["status"], None)

    assert data == {"status": "granted"}
    assert upstream.requests(PATH)[0].query == {}


def test_a_post_resource_sends_the_id_in_the_body_only(upstream: Upstream, connect: Any) -> None:
    def lookup(seen: Seen) -> Reply:
        asked = httpx.Response(200, content=seen.body).json()
        return Reply(200, benefits(asked["national_id"]))

    upstream.answer("POST", "/api/benefits/lookup", lookup)
    settings = changed(options(upstream), "resources.benefits.method", "POST")
    settings = changed(settings, "resources.benefits.path", "/benefits/lookup")

    assert read(connect(settings), fields=("status",)) == {"status": "granted"}
    (seen,) = upstream.requests()
    assert seen.path == "/api/benefits/lookup" and SUBJECT.national_id not in seen.path
    assert seen.headers["content-type"] == "application/json"


def test_the_national_id_cannot_leave_its_path_segment(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", "/api/benefits", Reply(200, benefits("..")))

    with pytest.raises(SubjectNotFound):
        connect().fetch(SubjectRef(".."), "benefits", ["status"])
    with pytest.raises(SubjectNotFound):
        connect().fetch(SubjectRef("1/../../x"), "benefits", ["status"])

    assert upstream.count("/api/benefits") == 0
    assert [seen.path for seen in upstream.requests()] == [
        "/api/people/%2E%2E/benefits",
        "/api/people/1%2F%2E%2E%2F%2E%2E%2Fx/benefits",
    ]


def test_reads_run_in_parallel_not_one_at_a_time(upstream: Upstream, connect: Any) -> None:
    # Each request waits at the upstream for the other: reads serialised by a lock would break
    # the barrier (pybreaker's call() holds one for the whole call).
    both_in = threading.Barrier(2)

    def together(seen: Seen) -> Reply:
        try:
            both_in.wait(timeout=2)
        except threading.BrokenBarrierError:
            return Reply(500)
        return Reply(200, benefits())

    upstream.answer("GET", PATH, together)
    connector = connect(timeout=3.0, deadline=4.0, retries=0)
    results: list[Any] = []

    def reader() -> None:
        try:
            results.append(read(connector, fields=("status",)))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [{"status": "granted"}] * 2


# -- OAuth 2.0 client credentials ---------------------------------------------------------------


class TokenEndpoint:
    """Issues access tokens for the client credentials; the resource accepts only live ones."""

    def __init__(self, expires_in: int | None = 3600) -> None:
        self.expires_in = expires_in
        self.live: set[str] = set()
        self.issued = 0

    def token(self, seen: Seen) -> Reply:
        scheme, _, encoded = seen.headers.get("authorization", "").partition(" ")
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        form = parse_qs(seen.body.decode())
        if (scheme, unquote_plus(client_id), unquote_plus(secret)) != (
            "Basic",
            CLIENT_ID,
            CLIENT_SECRET,
        ) or form.get("grant_type") != ["client_credentials"]:
            return Reply(401, {"error": "invalid_client"})
        self.issued += 1
        token = f"token-{self.issued}"
        self.live.add(token)
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return Reply(200, answer)

    def protect(self, reply: Reply) -> Callable[[Seen], Reply]:
        def answer(seen: Seen) -> Reply:
            token = seen.headers.get("authorization", "").removeprefix("Bearer ")
            return reply if token in self.live else Reply(401, {"error": "invalid_token"})

        return answer


@pytest.fixture
def oauth(upstream: Upstream) -> tuple[TokenEndpoint, dict[str, Any]]:
    endpoint = TokenEndpoint()
    upstream.answer("POST", "/oauth/token", endpoint.token)
    upstream.answer("GET", PATH, endpoint.protect(Reply(200, benefits())))
    settings = options(
        upstream,
        auth={
            "type": "oauth_client_credentials",
            "token_url": upstream.url + "/oauth/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "benefits:read",
        },
    )
    return endpoint, settings


def test_oauth_token_is_fetched_once_for_several_reads(
    upstream: Upstream, connect: Any, oauth: tuple[TokenEndpoint, dict[str, Any]]
) -> None:
    _, settings = oauth
    connector = connect(settings)

    for _ in range(3):
        assert read(connector, fields=("status",)) == {"status": "granted"}

    assert upstream.count("/oauth/token") == 1
    (token_request,) = upstream.requests("/oauth/token")
    assert parse_qs(token_request.body.decode())["scope"] == ["benefits:read"]
    assert {seen.headers["authorization"] for seen in upstream.requests(PATH)} == {"Bearer token-1"}


def test_concurrent_first_reads_share_one_token(
    upstream: Upstream, connect: Any, oauth: tuple[TokenEndpoint, dict[str, Any]]
) -> None:
    endpoint, settings = oauth
    upstream.answer("POST", "/oauth/token", lambda seen: replace(endpoint.token(seen), delay=0.2))
    connector = connect(settings)
    start = threading.Barrier(4)

    def reader() -> None:
        start.wait()
        read(connector, fields=("status",))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert upstream.count(PATH) == 4
    assert upstream.count("/oauth/token") == 1


def test_an_expired_oauth_token_is_renewed(
    upstream: Upstream, connect: Any, oauth: tuple[TokenEndpoint, dict[str, Any]]
) -> None:
    endpoint, settings = oauth
    endpoint.expires_in = 1
    connector = connect(settings)

    read(connector, fields=("status",))
    time.sleep(1.1)
    read(connector, fields=("status",))

    assert upstream.count("/oauth/token") == 2
    assert upstream.requests(PATH)[-1].headers["authorization"] == "Bearer token-2"


def test_a_401_renews_the_token_once(
    upstream: Upstream, connect: Any, oauth: tuple[TokenEndpoint, dict[str, Any]]
) -> None:
    endpoint, settings = oauth
    connector = connect(settings)
    read(connector, fields=("status",))
    endpoint.live.clear()  # the upstream forgot its tokens before they expired

    assert read(connector, fields=("status",)) == {"status": "granted"}
    assert upstream.count("/oauth/token") == 2
    assert upstream.count(PATH) == 3


def test_credentials_refused_after_a_renewal_are_unavailable_without_the_secret(
    upstream: Upstream, connect: Any, oauth: tuple[TokenEndpoint, dict[str, Any]]
) -> None:
    _, settings = oauth
    upstream.answer("GET", PATH, Reply(401, {"error": "invalid_token"}))
    connector = connect(settings)

    with pytest.raises(SourceUnavailable) as raised:
        read(connector)

    assert "credentials" in str(raised.value) and CLIENT_SECRET not in str(raised.value)
    assert upstream.count("/oauth/token") == 2  # the first token, and one renewal
    assert upstream.count(PATH) == 2


def test_a_token_endpoint_refusing_the_client_is_unavailable(
    upstream: Upstream, connect: Any, oauth: tuple[TokenEndpoint, dict[str, Any]]
) -> None:
    _, settings = oauth
    settings = changed(settings, "auth.client_secret", "wrong")

    with pytest.raises(SourceUnavailable, match="token endpoint refused"):
        read(connect(settings))
    assert upstream.count(PATH) == 0
    assert upstream.count("/oauth/token") == 1


def test_a_refused_api_key_is_unavailable_and_not_retried(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, with_key(Reply(200, benefits())))
    settings = changed(options(upstream), "auth.key", "not-the-key")

    with pytest.raises(SourceUnavailable, match="credentials") as raised:
        read(connect(settings))

    assert "not-the-key" not in str(raised.value)
    assert upstream.count(PATH) == 1


def test_no_secret_in_repr(
    upstream: Upstream, connect: Any, oauth: tuple[TokenEndpoint, dict[str, Any]]
) -> None:
    _, settings = oauth
    for connector in (connect(), connect(settings)):
        text = repr(connector) + repr(vars(connector))
        assert API_KEY not in text and CLIENT_SECRET not in text


# -- timeouts and the deadline ------------------------------------------------------------------


def test_a_slow_upstream_times_out_within_the_deadline(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, Reply(200, benefits(), delay=5))
    connector = connect(timeout=0.3, deadline=1.0, retries=5)

    started = time.monotonic()
    with pytest.raises(SourceTimeout):
        read(connector)

    assert time.monotonic() - started < 1.0 + MARGIN
    assert upstream.count(PATH) >= 2  # timeouts are retried while the deadline allows


def test_a_dripping_upstream_cannot_hold_a_read_past_its_time(
    upstream: Upstream, connect: Any
) -> None:
    # One byte every 0.1 s keeps each socket read inside its timeout, for 20 s in all.
    upstream.answer("GET", PATH, Reply(200, b"x" * 200, drip=0.1))
    connector = connect(timeout=0.5, deadline=1.0, retries=0)

    started = time.monotonic()
    with pytest.raises(SourceTimeout):
        read(connector)

    assert time.monotonic() - started < 1.0 + MARGIN


def test_an_upstream_nobody_listens_on_is_unavailable(connect: Any, upstream: Upstream) -> None:
    settings = options(upstream, base_url=f"http://127.0.0.1:{closed_port()}/api/", deadline=1.0)

    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="cannot connect"):
        read(connect(settings))
    assert time.monotonic() - started < 1.0 + MARGIN


# -- 5xx, 4xx, retries and Retry-After ----------------------------------------------------------


def test_5xx_then_success_is_retried(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, Reply(503), Reply(502), Reply(200, benefits()))

    assert read(connect(), fields=("status",)) == {"status": "granted"}
    assert upstream.count(PATH) == 3


def test_5xx_exhausting_the_retries_is_unavailable(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, Reply(504))

    with pytest.raises(SourceUnavailable, match="HTTP 504") as raised:
        read(connect(retries=2, breaker_reset=7))

    assert upstream.count(PATH) == 3
    assert raised.value.retry_after == 7  # no Retry-After: the breaker's reset


@pytest.mark.parametrize("status", [500, 501])
def test_other_5xx_are_not_retried(upstream: Upstream, connect: Any, status: int) -> None:
    upstream.answer("GET", PATH, Reply(status))

    with pytest.raises(SourceUnavailable):
        read(connect())
    assert upstream.count(PATH) == 1


@pytest.mark.parametrize("status", [400, 403, 409, 422, 429])
def test_4xx_are_never_retried(upstream: Upstream, connect: Any, status: int) -> None:
    upstream.answer("GET", PATH, Reply(status, headers={"Retry-After": "7"}))

    with pytest.raises(SourceUnavailable) as raised:
        read(connect())

    assert upstream.count(PATH) == 1
    if status == 429:
        assert raised.value.retry_after == 7


def test_retry_after_is_honoured(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, Reply(503, headers={"Retry-After": "1"}), Reply(200, benefits()))

    assert read(connect(deadline=3.0), fields=("status",)) == {"status": "granted"}
    first, second = upstream.requests(PATH)
    assert second.at - first.at >= 0.95


def test_a_retry_after_beyond_the_cap_ends_the_read_and_is_passed_on(
    upstream: Upstream, connect: Any
) -> None:
    upstream.answer("GET", PATH, Reply(503, headers={"Retry-After": "60"}))

    with pytest.raises(SourceUnavailable) as raised:
        read(connect())

    assert raised.value.retry_after == 60
    assert upstream.count(PATH) == 1


def test_a_retry_after_date_is_understood(upstream: Upstream, connect: Any) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    upstream.answer("GET", PATH, Reply(503, headers={"Retry-After": later}))

    with pytest.raises(SourceUnavailable) as raised:
        read(connect())

    assert 100 <= raised.value.retry_after <= 121
    assert upstream.count(PATH) == 1


def test_a_retry_after_past_the_deadline_is_not_waited_for(
    upstream: Upstream, connect: Any
) -> None:
    upstream.answer("GET", PATH, Reply(503, headers={"Retry-After": "3"}), Reply(200, benefits()))
    connector = connect(retry_after_cap=5, deadline=1.0)

    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as raised:
        read(connector)

    assert time.monotonic() - started < 1.0 + MARGIN
    assert raised.value.retry_after == 3
    assert upstream.count(PATH) == 1


# -- what the answer must be ----------------------------------------------------------------------


def test_a_404_is_subject_not_found_without_the_id(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, Reply(404, {"error": "unknown person"}))

    with pytest.raises(SubjectNotFound) as raised:
        read(connect())

    assert SUBJECT.national_id not in str(raised.value)
    assert upstream.count(PATH) == 1


def test_not_found_statuses_are_configurable(upstream: Upstream, connect: Any) -> None:
    settings = changed(options(upstream), "resources.benefits.not_found_status", [410])
    connector = connect(settings)
    upstream.answer("GET", PATH, Reply(410))
    with pytest.raises(SubjectNotFound):
        read(connector)
    upstream.answer("GET", PATH, Reply(404))
    with pytest.raises(SourceUnavailable):
        read(connector)


@pytest.mark.parametrize(
    "body",
    [
        b'{"national_id": ',
        b"<html>oops</html>",
        b"[1, 2]",
        b'"text"',
        b"",
        b'{"national_id": NaN}',
        b"\xff\xfe\x00garbage",
    ],
    ids=["truncated", "html", "array", "string", "empty", "nan", "binary"],
)
def test_an_answer_that_is_not_a_json_object_is_bad_data(
    upstream: Upstream, connect: Any, body: bytes
) -> None:
    upstream.answer("GET", PATH, Reply(200, body))

    with pytest.raises(BadUpstreamData):
        read(connect())
    assert upstream.count(PATH) == 1


def test_a_missing_value_is_bad_data_unless_nullable(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, Reply(200, benefits(allowance={"status": "refused"})))
    with pytest.raises(BadUpstreamData, match="monthly_allowance"):
        read(connect())

    nullable = changed(
        options(upstream), "resources.benefits.fields.monthly_allowance.nullable", True
    )
    nullable = changed(nullable, "resources.benefits.fields.payments.nullable", True)
    upstream.answer(
        "GET",
        PATH,
        Reply(
            200,
            {
                "national_id": SUBJECT.national_id,
                "allowance": {"status": "refused", "monthly": None},
            },
        ),
    )
    assert read(connect(nullable)) == {
        "monthly_allowance": None,
        "status": "refused",
        "payments": [],
    }


@pytest.mark.parametrize(
    "document",
    [
        benefits(allowance={"monthly": None, "status": "granted"}),
        benefits(allowance="granted"),
        benefits(payments={"start": "2025-11-01"}),
        benefits(payments=["2025-11-01"]),
        benefits(payments=[{"end": "2025-12-01", "amount": 1}]),
        benefits(payments=[{"start": "1 Nov 2025", "end": "2025-12-01"}]),
        benefits(payments=[{"start": "2025-11-01T00:00:00", "end": "2025-12-01"}]),
    ],
    ids=[
        "null",
        "scalar-parent",
        "records-not-list",
        "record-not-object",
        "no-start",
        "not-iso",
        "naive-time",
    ],
)
def test_an_unexpected_shape_is_bad_data(
    upstream: Upstream, connect: Any, document: dict[str, Any]
) -> None:
    upstream.answer("GET", PATH, Reply(200, document))

    with pytest.raises(BadUpstreamData):
        read(connect())


@pytest.mark.parametrize(
    "echoed",
    [OTHER.national_id, int(SUBJECT.national_id), None, ...],
    ids=["another-citizen", "number", "null", "missing"],
)
def test_an_answer_about_another_subject_is_refused(
    upstream: Upstream, connect: Any, echoed: Any
) -> None:
    document = benefits(national_id=echoed)
    if echoed is ...:
        del document["national_id"]
    upstream.answer("GET", PATH, Reply(200, document))

    with pytest.raises(BadUpstreamData) as raised:
        read(connect())

    assert SUBJECT.national_id not in str(raised.value)
    assert OTHER.national_id not in str(raised.value)


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "streamed"])
def test_a_too_large_answer_is_bad_data(
    upstream: Upstream, connect: Any, declare_length: bool
) -> None:
    huge = benefits(padding="x" * 5000)
    upstream.answer("GET", PATH, Reply(200, huge, declare_length=declare_length))

    with pytest.raises(BadUpstreamData, match="larger than 4096 bytes"):
        read(connect(max_response_bytes=4096))


def test_a_compressed_answer_is_refused(upstream: Upstream, connect: Any) -> None:
    packed = gzip.compress(httpx.Response(200, json=benefits()).content)
    upstream.answer("GET", PATH, Reply(200, packed, headers={"Content-Encoding": "gzip"}))

    with pytest.raises(BadUpstreamData, match="compressed"):
        read(connect())
    assert upstream.requests(PATH)[0].headers["accept-encoding"] == "identity"


def test_redirects_are_not_followed(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, Reply(302, headers={"Location": upstream.url + "/elsewhere"}))
    upstream.answer("GET", "/elsewhere", Reply(200, benefits()))

    with pytest.raises(BadUpstreamData, match="redirect"):
        read(connect())
    assert upstream.count("/elsewhere") == 0


def test_a_dated_read_needs_its_date_range(connect: Any) -> None:
    with pytest.raises(ValueError, match="date range"):
        connect().fetch(SUBJECT, "benefits", ["payments"], None)


# -- the circuit breaker -------------------------------------------------------------------------


def test_the_breaker_opens_after_consecutive_failures_and_closes_after_reset(
    upstream: Upstream, connect: Any
) -> None:
    upstream.answer("GET", PATH, Reply(503))
    connector = connect(retries=0, breaker_failures=3, breaker_reset=0.5)
    for _ in range(3):
        with pytest.raises(SourceUnavailable, match="HTTP 503"):
            read(connector)

    with pytest.raises(SourceUnavailable, match="not calling it") as raised:
        read(connector)
    assert upstream.count(PATH) == 3  # refused without a request
    assert raised.value.retry_after == 1  # the 0.5 s until it half-opens, rounded up

    upstream.answer("GET", PATH, Reply(200, benefits()))
    time.sleep(0.6)
    assert read(connector, fields=("status",)) == {"status": "granted"}
    assert read(connector, fields=("status",)) == {"status": "granted"}
    assert upstream.count(PATH) == 5


def test_a_failed_trial_opens_the_breaker_again(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", PATH, Reply(503))
    connector = connect(retries=0, breaker_failures=2, breaker_reset=0.5)
    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            read(connector)
    time.sleep(0.6)

    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        read(connector)  # the trial
    with pytest.raises(SourceUnavailable, match="not calling it"):
        read(connector)
    assert upstream.count(PATH) == 3


def test_answers_from_a_working_upstream_do_not_open_the_breaker(
    upstream: Upstream, connect: Any
) -> None:
    upstream.answer("GET", PATH, Reply(404), Reply(400), Reply(200, b"not json"), Reply(404))
    connector = connect(retries=0, breaker_failures=2)
    for expected in (SubjectNotFound, SourceUnavailable, BadUpstreamData, SubjectNotFound):
        with pytest.raises(expected):
            read(connector)
    assert upstream.count(PATH) == 4


def test_a_success_resets_the_count_of_failures(upstream: Upstream, connect: Any) -> None:
    upstream.answer(
        "GET", PATH, Reply(503), Reply(200, benefits()), Reply(503), Reply(200, benefits())
    )
    connector = connect(retries=0, breaker_failures=2)
    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            read(connector)
        read(connector)
    assert upstream.count(PATH) == 4


# -- health ------------------------------------------------------------------------------------


def test_health(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", "/api/health", with_key(Reply(200, {"status": "ok"})))
    assert connect().health().ok is True

    upstream.answer("GET", "/api/health", Reply(503))
    health = connect().health()
    assert health.ok is False and "503" in health.detail

    down = connect(base_url=f"http://127.0.0.1:{closed_port()}/api/").health()
    assert down.ok is False and "connect" in down.detail


def test_health_reports_refused_credentials(upstream: Upstream, connect: Any) -> None:
    upstream.answer("GET", "/api/health", with_key(Reply(200, {"status": "ok"})))
    health = connect(settings=changed(options(upstream), "auth.key", "wrong")).health()
    assert health.ok is False and "credentials" in health.detail


# -- nothing personal in the logs ---------------------------------------------------------------


def test_no_national_id_or_secret_reaches_the_logs(
    upstream: Upstream, connect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    upstream.answer("GET", PATH, Reply(503), with_key(Reply(200, benefits())))
    read(connect())
    upstream.answer("GET", PATH, Reply(200, benefits(OTHER.national_id)))
    with pytest.raises(BadUpstreamData):
        read(connect())

    assert "HTTP Request" in caplog.text  # httpx did log the requests ...
    for secret in (SUBJECT.national_id, OTHER.national_id, API_KEY, "51.95"):
        assert secret not in caplog.text  # ... without their targets


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("base_url", ...),
        ("base_url", "http://asp.example.bg/api/"),
        ("base_url", "ftp://127.0.0.1/"),
        ("base_url", "https://user:pw@asp.example.bg/"),
        ("base_url", "not a url at all"),
        ("label_bg", ""),
        ("timeout", 0),
        ("timeout", "2"),
        ("deadline", 0.1),
        ("retries", True),
        ("retries", 1.5),
        ("breaker_failures", 0),
        ("allow_insecure_http", "yes"),
        ("health_path", "https://elsewhere.example/"),
        ("health_path", "http://[unclosed/"),
        ("auth", ...),
        ("auth.type", "basic"),
        ("auth.key", ...),
        ("auth.key", "line one\nX-Injected: yes"),
        ("auth.header", "X API Key"),
        ("auth.extra", 1),
        ("resources", {}),
        ("resources.benefits.path", "/people/benefits"),
        ("resources.benefits.path", "/people/{id}/benefits"),
        ("resources.benefits.path", "https://elsewhere.example/{subject}"),
        ("resources.benefits.method", "DELETE"),
        ("resources.benefits.subject_pointer", "national_id"),
        ("resources.benefits.not_found_status", [200]),
        ("resources.benefits.date_to_param", ...),
        ("resources.benefits.fields", {}),
        ("resources.benefits.fields.monthly_allowance.pointer", "allowance/monthly"),
        ("resources.benefits.fields.monthly_allowance.pointer", ""),
        ("resources.benefits.fields.monthly_allowance.pointer", "/payments/-"),
        ("resources.benefits.fields.monthly_allowance.pointer", ...),
        ("resources.benefits.fields.monthly_allowance.dpv", "https://example.org/income"),
        ("resources.benefits.fields.monthly_allowance.sensitivity", "secret"),
        ("resources.benefits.fields.monthly_allowance.nullable", "no"),
        ("resources.benefits.fields.monthly_allowance.pointr", "/x"),
        ("resources.benefits.fields.Monthly", field("/x")),
    ],
)
def test_a_bad_option_names_its_setting(upstream: Upstream, setting: str, value: Any) -> None:
    with pytest.raises(ConnectorConfigError) as raised:
        HttpJsonConnector(**changed(options(upstream), setting, value))
    assert raised.value.setting == setting


def test_options_that_only_apply_together(upstream: Upstream) -> None:
    post_with_id = changed(options(upstream), "resources.benefits.method", "POST")
    with pytest.raises(ConnectorConfigError) as raised:
        HttpJsonConnector(**post_with_id)
    assert raised.value.setting == "resources.benefits.path"

    undated = changed(options(upstream), "resources.benefits.fields.payments.dated", False)
    with pytest.raises(ConnectorConfigError) as raised:
        HttpJsonConnector(**undated)
    assert raised.value.setting == "resources.benefits.date_from_param"

    cleartext = options(
        upstream,
        auth={
            "type": "oauth_client_credentials",
            "client_id": "c",
            "client_secret": "s",
            "token_url": "http://idp.example.bg/token",
        },
    )
    with pytest.raises(ConnectorConfigError) as raised:
        HttpJsonConnector(**cleartext)
    assert raised.value.setting == "auth.token_url"


def test_http_to_another_host_needs_an_explicit_opt_in(upstream: Upstream) -> None:
    remote = options(upstream, base_url="http://asp.example.bg/api/")
    with pytest.raises(ConnectorConfigError, match="https"):
        HttpJsonConnector(**remote)
    connector = HttpJsonConnector(**remote, allow_insecure_http=True)
    connector.close()
    for loopback in ("http://localhost:1/", "http://127.0.0.2:1/", "http://[::1]:1/"):
        HttpJsonConnector(**options(upstream, base_url=loopback)).close()


def test_the_registry_builds_it_and_prefixes_the_instance(upstream: Upstream) -> None:
    settings = changed(options(upstream), "auth.key", {"env": "ASP_API_KEY"})
    spec = ConnectorSpec("social_assistance", "http_json", settings)
    connector = instantiate(spec, env={"ASP_API_KEY": API_KEY})
    assert connector.describe().resources["benefits"].fields["payments"].dated

    broken = ConnectorSpec(
        "social_assistance", "http_json", changed(settings, "resources.benefits.path", "/people")
    )
    with pytest.raises(ConnectorConfigError) as raised:
        instantiate(broken, env={"ASP_API_KEY": API_KEY})
    assert raised.value.setting == "connectors.social_assistance.resources.benefits.path"


def test_describe_reflects_the_configuration(upstream: Upstream, connect: Any) -> None:
    description = connect().describe()
    assert description.label_en == "Social Assistance Agency"
    fields = description.resources["benefits"].fields
    assert fields["status"].optional is False and fields["payments"].dated is True
    assert fields["monthly_allowance"].dpv_category == DPV + "Income"


# -- the demo upstream, and the contract kit against it ----------------------------------------


def demo_people() -> list[dict[str, Any]]:
    people = [
        ("Мария", date(1988, 3, 14), 471),
        ("Георги", date(1985, 11, 2), 186),
        ("Никола", date(2021, 6, 21), 244),
        ("Елена", date(1951, 9, 30), 593),
    ]
    return [
        {
            "national_id": egn.make(born, serial),
            "given_name": name,
            "family_name": "Демо",
            "birth_date": born,
        }
        for name, born, serial in people
    ]


MARIA, GEORGI, NIKOLA, ELENA = (SubjectRef(p["national_id"]) for p in demo_people())


@pytest.fixture(scope="module")
def agency() -> Iterator[SocialAssistanceUpstream]:
    today = datetime.now(UTC).date()
    with SocialAssistanceUpstream(demo_benefits(demo_people(), today), API_KEY) as server:
        yield server


class TestHttpJsonContract(ConnectorContract):
    @pytest.fixture
    def connector(self, agency: SocialAssistanceUpstream) -> Iterator[HttpJsonConnector]:
        connector = HttpJsonConnector(**demo_connector_options(agency.url, API_KEY))
        yield connector
        connector.close()

    @pytest.fixture
    def subject(self) -> SubjectRef:
        return ELENA

    @pytest.fixture
    def other_subject(self) -> SubjectRef:
        return MARIA

    @pytest.fixture
    def unavailable_connector(self) -> Iterator[HttpJsonConnector]:
        settings = demo_connector_options(f"http://127.0.0.1:{closed_port()}", API_KEY)
        connector = HttpJsonConnector(**{**settings, "timeout": 0.5, "deadline": 1.0})
        yield connector
        connector.close()
