"""A scriptable HTTP upstream on loopback, for the fault tests of HTTP connectors.

A test tells it what to answer on a route (a status, a body, headers, a delay before
answering, a slow drip of the body, or a function of the request) and reads back every request
it received, so "no request reached the upstream" is a count, not a guess::

    with Upstream() as upstream:
        upstream.answer("GET", "/api/people/8803144710/benefits",
                        Reply(503), Reply(200, {"national_id": "8803144710"}))
        ...
        assert upstream.count("/api/people/8803144710/benefits") == 2
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    """One answer. ``body`` is JSON-encoded unless it is bytes."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    drip: float = 0.0  # seconds between the body's bytes
    declare_length: bool = True  # else no Content-Length, and the connection closes after


@dataclass(frozen=True)
class Seen:
    """A request as the upstream received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic() on arrival


Script = Reply | Callable[[Seen], Reply]


class Upstream:
    """The server; answers are scripted per (method, path), the last one of a script repeats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], list[Script]] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # ends delays and drips at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, method: str, path: str, *script: Script) -> None:
        """Answer requests to ``path`` with ``script`` in turn, repeating its last entry."""
        with self._lock:
            self._routes[(method, path)] = list(script)

    def requests(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if path is None or seen.path == path]

    def count(self, path: str | None = None) -> int:
        return len(self.requests(path))

    def _reply(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            script = self._routes.get((seen.method, seen.path))
            if not script:
                return Reply(404, {"error": "no such route"})
            entry = script.pop(0) if len(script) > 1 else script[0]
        return entry(seen) if callable(entry) else entry


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], upstream: Upstream) -> None:
        super().__init__(address, _Handler)
        self.upstream = upstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up (as connectors under test do); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (40 ms a read on Linux loopback).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        seen = Seen(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        upstream = self.server.upstream
        reply = upstream._reply(seen)
        if reply.delay and upstream.stopping.wait(reply.delay):
            return
        payload = (
            reply.body
            if isinstance(reply.body, bytes)
            else b""
            if reply.body is None
            else json.dumps(reply.body, ensure_ascii=False).encode()
        )
        try:
            self.send_response(reply.status)
            if reply.body is not None and not isinstance(reply.body, bytes):
                self.send_header("Content-Type", "application/json")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.declare_length:
                self.send_header("Content-Length", str(len(payload)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if not reply.drip:
                self.wfile.write(payload)
                return
            for index in range(len(payload)):
                self.wfile.write(payload[index : index + 1])
                self.wfile.flush()
                if upstream.stopping.wait(reply.drip):
                    return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, as it should have

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request lines carry national ids."""
