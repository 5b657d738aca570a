"""The baseline: a minimal Flask JSON endpoint, served with the broker's own gunicorn options.

    python benchmarks/baseline_app.py --bind 127.0.0.1:8100 --workers 2
"""

from __future__ import annotations

import argparse

from flask import Flask, Response, json

from broker.serve import BrokerServer, gunicorn_options

app = Flask(__name__)


@app.get("/ping")
def ping() -> Response:
    return Response(json.dumps({"status": "ok", "service": "baseline"}),
                    mimetype="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    BrokerServer(gunicorn_options(args.bind, args.workers), lambda: app).run()


if __name__ == "__main__":
    main()
