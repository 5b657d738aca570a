"""Slow or idle clients cannot starve the real server (DESIGN, "Deployment behind TLS and
proxies"): ``serdika serve`` with its default settings answers ``/healthz`` within a second
while a handful of clients hold connections open, dribble their headers or send a large body a
byte at a time, over plain HTTP and over TLS served by the broker itself.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.browser.test_https_and_proxy import make_certificate
from tests.e2e.harness import RealServer

pytestmark = pytest.mark.e2e

#: The contract's bound: /healthz answers within a second.
BOUND_SECONDS = 1.0
#: "A handful" of each kind of slow client: idle, slow headers, slow body.
SLOW_CLIENTS_PER_KIND = 3
#: How often /healthz is asked, one second apart: past gunicorn's 5 s wait for a first byte.
CHECKS = 8


@pytest.fixture(scope="module", params=["http", "https"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RealServer]:
    base: Path = tmp_path_factory.mktemp(f"slow-{request.param}")
    tls = make_certificate(base) if request.param == "https" else None
    server = RealServer(database_url=f"sqlite:///{base / 'serdika.sqlite3'}",
                        var_dir=base / "var", log_path=base / "server.log", tls=tls)
    with server.serving():
        yield server


class SlowClients:
    """Raw connections that never finish a request, each fed by one background thread."""

    def __init__(self, server: RealServer) -> None:
        self.server = server
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []

    def connect(self, handshake: bool = True) -> socket.socket:
        raw = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        connection = raw
        if self.server.tls and handshake:
            context = ssl.create_default_context(cafile=str(self.server.tls[0]))
            connection = context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.sockets.append(connection)
        return connection

    def dribble(self, first: bytes, then: Callable[[int], bytes]) -> None:
        connection = self.connect()
        connection.sendall(first)

        def feed() -> None:
            sent = 0
            while not self.stop.wait(0.2):
                try:
                    connection.sendall(then(sent))
                except OSError:
                    return  # the server gave up on us: that is its right
                sent += 1

        thread = threading.Thread(target=feed, daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for connection in self.sockets:
            connection.close()


@pytest.fixture
def slow_clients(served: RealServer) -> Iterator[SlowClients]:
    clients = SlowClients(served)
    try:
        yield clients
    finally:
        clients.close()


def test_healthz_answers_within_a_second_while_clients_are_slow(
        served: RealServer, slow_clients: SlowClients) -> None:
    host = f"Host: 127.0.0.1:{served.port}\r\n".encode()
    for _ in range(SLOW_CLIENTS_PER_KIND):
        # Connected and silent (over TLS: not even a ClientHello).
        slow_clients.connect(handshake=False)
        # Headers a byte at a time, never finished.
        slow_clients.dribble(b"GET /healthz HTTP/1.1\r\n" + host,
                             lambda n: b"X-Slow: 1\r\n" if n % 11 == 10 else b"x")
        # Complete headers, then a large form body a byte at a time.
        slow_clients.dribble(
            b"POST /oauth2/introspect HTTP/1.1\r\n" + host
            + b"Content-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 1000000\r\n\r\ntoken=",
            lambda n: b"a")
    time.sleep(0.5)  # every slow client has reached the server

    answered: list[float] = []
    for _ in range(CHECKS):
        started = time.monotonic()
        try:
            response = requests.get(f"{served.own_url}/healthz", timeout=BOUND_SECONDS,
                                    verify=served.verify)
        except requests.Timeout:
            pytest.fail(f"/healthz did not answer within {BOUND_SECONDS}s with slow clients "
                        f"connected (answered {len(answered)} times before)")
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert elapsed < BOUND_SECONDS, f"/healthz took {elapsed:.2f}s"
        answered.append(elapsed)
        time.sleep(max(0.0, 1.0 - elapsed))
