"""Run the broker under gunicorn with the project's settings."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.util import import_app

from broker.mail import NotifierThread
from broker.sequencer import SequencerThread

#: The WSGI app of the broker, in gunicorn's notation.
BROKER_APP = "broker:create_app()"

#: Request threads per worker. gunicorn's gthread worker waits for connections in a selector
#: (a kept-alive connection holds no thread, a new one that sends nothing holds one for at most
#: 5 s) but reads a request's headers inside a thread, with no deadline, and :class:`OneAtATime`
#: reads its body there too: a client that sends either slowly holds that thread until it
#: finishes. A sync worker was held the same way, so two slow clients stalled a two-worker node
#: (issue 11, item 4); with this many threads a worker stays responsive with up to this many
#: minus one such clients. Beyond that, the documented deployment's nginx buffers whole requests
#: (README, "Behind TLS and a reverse proxy").
THREADS_PER_WORKER = 32


class BrokerServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with the project's options, serving the app ``make_app`` builds per worker."""

    def __init__(
        self,
        options: dict[str, Any],
        make_app: Callable[[], Any] | None = None,
        app_uri: str = BROKER_APP,
    ):
        self.options = options
        self.make_app = make_app
        self.app_uri = app_uri
        super().__init__()

    def load_config(self) -> None:
        load_options(self.cfg, self.options)

    def load(self) -> Any:
        if self.make_app is not None:
            return self.make_app()
        # Each worker builds its own app after the fork (its own pools), as gunicorn would
        # for ``gunicorn 'broker:create_app()'``.
        return import_app(self.app_uri)


def load_options(cfg: Any, options: dict[str, Any]) -> None:
    """Apply ``options``, skipping settings this gunicorn version does not have."""
    for key, value in options.items():
        if key in cfg.settings:
            cfg.set(key, value)


def gunicorn_options(
    bind: str, workers: int, *, tls: tuple[Path, Path] | None = None
) -> dict[str, Any]:
    """gunicorn's settings; ``tls`` (certificate, key) serves HTTPS."""
    options: dict[str, Any] = {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": THREADS_PER_WORKER,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": "-",
        # The access log carries no query strings: they may hold codes or states.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        "limit_request_line": 8190,
        # Forwarded headers are the app's to trust (SERDIKA_TRUSTED_PROXIES, broker/app.py),
        # never gunicorn's: it would take X-Forwarded-Proto from any local process.
        "secure_scheme_headers": {},
        # gunicorn >= 25.1 opens a runtime-management socket at one fixed path in $HOME
        # (~/.gunicorn/gunicorn.ctl) that every instance on the host would share and steal
        # from each other; the broker is managed through its process manager, not that.
        "control_socket_disable": True,
        # Each worker runs a ledger sequencer thread (broker/sequencer.py) and a notifier.
        "post_worker_init": start_worker_threads,
    }
    if tls is not None:
        options["certfile"], options["keyfile"] = (str(path) for path in tls)
    return options


class OneAtATime:
    """WSGI middleware: the threads read requests, the app serves one request at a time.

    The body is read in full (up to the app's ``MAX_CONTENT_LENGTH``) before the request waits
    for its turn, so a client that sends it slowly holds only its own thread. Then the app runs
    alone in the process, as under a sync worker: requests that ran side by side fought over
    the GIL (a thread back from SQLite or the socket waits for it while the others run Python),
    and the data read, which appends to the ledger under a writer lock, lost about 40 % of its
    throughput to it (benchmarks/README.md). The response is written outside the turn.
    """

    def __init__(self, app: Any, max_body: int | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.turn = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        self.buffer_body(environ)
        with self.turn:
            return self.app(environ, start_response)  # type: ignore[no-any-return]

    def buffer_body(self, environ: dict[str, Any]) -> None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return  # the app answers 400
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not length and not chunked:
            return
        if self.max_body is not None and length > self.max_body:
            return  # refused by the app (413) without reading it
        # A chunked body is read up to one byte past the limit and handed on as a body of known
        # length, which the app refuses (413) if it is too long.
        limit = length if length else (self.max_body + 1 if self.max_body is not None else -1)
        body = environ["wsgi.input"].read(limit)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)


def start_worker_threads(worker: Any) -> None:
    """gunicorn ``post_worker_init`` hook: a sequencer and a notifier thread per worker, and
    the app behind :class:`OneAtATime`."""
    app = worker.wsgi
    worker.wsgi = OneAtATime(app, getattr(app, "config", {}).get("MAX_CONTENT_LENGTH"))
    broker = getattr(app, "extensions", {}).get("serdika")
    if broker is not None:
        SequencerThread(broker).start()
        NotifierThread(app, broker.settings.notify_interval_seconds).start()


def run(bind: str, workers: int, *, tls: tuple[Path, Path] | None = None) -> None:
    BrokerServer(gunicorn_options(bind, workers, tls=tls)).run()
