"""Profile the two measured hot paths in one process with cProfile (no server, no network).

    python benchmarks/profile_hot_paths.py [N] [sqlite|postgresql://...]

Builds a fresh SQLite installation (or uses the given PostgreSQL URL), runs the consent flow
through the Flask test client, then calls the data read and the introspection N times each
(first without, then with the profiler) and prints the top of each profile, sorted by
cumulative and by own time.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker import create_app
from broker.config import load_settings
from broker.migrate import upgrade
from broker.sources import demo_sources
from demo.seed import seed
from tests.flows import Flow, basic


def report(profile: cProfile.Profile, title: str, count: int, elapsed: float) -> None:
    print(f"\n===== {title}: {count} calls, {elapsed / count * 1000:.2f} ms per call "
          f"under cProfile =====")
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(28)
        print(out.getvalue().split("\n", 6)[-1])


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    target = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    var_dir = Path(tempfile.mkdtemp(prefix="serdika-profile."))
    url = f"sqlite:///{var_dir / 'serdika.sqlite3'}" if target == "sqlite" else target
    settings = load_settings(env={}, var_dir=var_dir, database_url=url,
                             issuer="http://127.0.0.1:8000")
    upgrade(settings.database_url)
    app = create_app({"settings": settings})
    broker = app.extensions["serdika"]
    with broker.db.sessions() as session:
        demo = seed(session, secret_key=broker.keys.secret_key, keyring=broker.keys.keyring,
                    sources=demo_sources(broker.settings, broker.connectors))
    service = demo["services"][0]
    tokens = Flow(app.test_client(), service, demo["citizens"][0]).tokens()
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    auth = basic(service["client_id"], service["client_secret"])

    def read() -> None:
        response = client.get("/api/v1/data/civil_registry/person", headers=bearer)
        assert response.status_code == 200, response.get_data(as_text=True)

    def introspect() -> None:
        response = client.post("/oauth2/introspect", headers=auth,
                               data={"token": tokens["access_token"]})
        assert response.get_json()["active"] is True

    for name, call in (("GET /api/v1/data/civil_registry/person", read),
                       ("POST /oauth2/introspect", introspect)):
        for _ in range(20):
            call()  # warm up
        started = time.perf_counter()
        for _ in range(count):
            call()
        plain = time.perf_counter() - started
        print(f"{name}: {plain / count * 1000:.2f} ms per call without the profiler")
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for _ in range(count):
            call()
        profile.disable()
        report(profile, name, count, time.perf_counter() - started)
    broker.db.dispose()


if __name__ == "__main__":
    main()
