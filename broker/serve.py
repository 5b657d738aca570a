"""Run the broker under gunicorn with the project's settings."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class BrokerServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from broker import create_app

        return create_app()


def gunicorn_options(bind: str, workers: int) -> dict[str, Any]:
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": "sync",
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": "-",
        # The access log carries no query strings: they may hold codes or states.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        "limit_request_line": 8190,
        "forwarded_allow_ips": "127.0.0.1",
    }


def run(bind: str, workers: int) -> None:
    BrokerServer(gunicorn_options(bind, workers)).run()
