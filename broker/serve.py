"""Run the broker under gunicorn with the project's settings."""

from __future__ import annotations

from collections.abc import Callable
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
#: 5 s) but reads a request's headers and body inside a thread, with no deadline: a client that
#: sends them slowly holds that thread until it finishes. A sync worker was held the same way,
#: so two slow clients stalled a two-worker node (issue 11, item 4); with this many threads a
#: worker stays responsive with up to this many minus one such clients. Beyond that, the
#: documented deployment's nginx buffers whole requests (README, "Behind TLS and a reverse
#: proxy").
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


def start_worker_threads(worker: Any) -> None:
    """gunicorn ``post_worker_init`` hook: a sequencer and a notifier thread per worker."""
    app = worker.wsgi
    broker = getattr(app, "extensions", {}).get("serdika")
    if broker is not None:
        SequencerThread(broker).start()
        NotifierThread(app, broker.settings.notify_interval_seconds).start()


def run(bind: str, workers: int, *, tls: tuple[Path, Path] | None = None) -> None:
    BrokerServer(gunicorn_options(bind, workers, tls=tls)).run()
