"""The demo's Social Assistance Agency as a small JSON API on a loopback port (development only).

The demo's ``social_assistance`` connector reads it like any ``http_json`` upstream, so the demo
exercises a real HTTP upstream with API-key authentication, timeouts and the circuit breaker,
without any outside network::

    upstream = SocialAssistanceUpstream(demo_benefits(people, today), api_key).start()
    options = demo_connector_options(upstream.url, api_key)   # kind = "http_json"

The API, as the agency might publish it:

- ``GET /people/{national_id}/benefits?from=YYYY-MM-DD&to=YYYY-MM-DD`` with the header
  ``X-API-Key``: the person's heating allowance (целева помощ за отопление) for the latest
  heating season, and the monthly payments of the allowance whose month lies within
  ``[from, to]`` (both optional). 401 without the right key, 404 for a person the agency does
  not know.
- ``GET /health``: ``{"status": "ok"}``, no key needed.

The answers are :func:`demo.social_assistance.demo_benefits`.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
from collections.abc import Mapping
from datetime import date, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from demo.social_assistance import API_KEY_HEADER


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (40 ms a read on Linux loopback).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive, as the connector's pooled client expects

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/health":
            self._send(HTTPStatus.OK, {"status": "ok"})
        elif len(parts) == 3 and parts[0] == "people" and parts[2] == "benefits":
            self._benefits(unquote(parts[1]), parse_qs(url.query))
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def _benefits(self, national_id: str, query: dict[str, list[str]]) -> None:
        offered = self.headers.get(API_KEY_HEADER, "")
        if not hmac.compare_digest(offered.encode(), self.server.api_key.encode()):
            self._send(HTTPStatus.UNAUTHORIZED, {"error": "invalid_api_key"})
            return
        answer = self.server.benefits.get(national_id)
        if answer is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": "unknown_person"})
            return
        try:
            first = date.fromisoformat(query["from"][0]) if "from" in query else date.min
            last = date.fromisoformat(query["to"][0]) if "to" in query else date.max - timedelta(1)
        except ValueError:
            self._send(HTTPStatus.BAD_REQUEST, {"error": "invalid_date"})
            return
        payments = [
            p
            for p in answer["payments"]
            if first <= date.fromisoformat(p["start"])
            and date.fromisoformat(p["end"]) <= last + timedelta(days=1)
        ]
        self._send(HTTPStatus.OK, {**answer, "payments": payments})

    def _send(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: request lines carry national ids."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], benefits: Mapping[str, Any], api_key: str) -> None:
        super().__init__(address, _Handler)
        self.benefits = benefits
        self.api_key = api_key

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a kept-alive connection is no error; anything else is reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SocialAssistanceUpstream:
    """The demo agency's server, on a daemon thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        benefits: Mapping[str, Mapping[str, Any]],
        api_key: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not api_key:
            raise ValueError("the demo upstream needs an API key")
        self.benefits = benefits
        self.api_key = api_key
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8001`` (the bound port once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SocialAssistanceUpstream:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self.benefits, self.api_key)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="demo-upstream",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SocialAssistanceUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
