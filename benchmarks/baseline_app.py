"""The baseline: a minimal Flask JSON endpoint, served with the broker's own gunicorn options.

    python benchmarks/baseline_app.py --bind 127.0.0.1:8100 --workers 2
"""

from __future__ import annotations

import argparse
from typing import Any

from flask import Flask, Response, json
from gunicorn.app.base import BaseApplication

from broker.serve import gunicorn_options, load_options

app = Flask(__name__)


@app.get("/ping")
def ping() -> Response:
    return Response(json.dumps({"status": "ok", "service": "baseline"}),
                    mimetype="application/json")


class BaselineServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        load_options(self.cfg, self.options)

    def load(self) -> Flask:
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    BaselineServer(gunicorn_options(args.bind, args.workers)).run()


if __name__ == "__main__":
    main()
