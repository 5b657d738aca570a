"""The connector layer's overhead on the read path, per built-in connector (in-process).

For each case, on a fresh SQLite database filled by the demo seed (and the demo's Social
Assistance Agency on loopback for ``http_json``), it times many reads two ways:

- **fetch**: ``connector.fetch(...)`` alone, with the constraints already resolved;
- **layer**: what the data API does around it (``broker/api/views.py``): read the stored
  constraints, parse the read's query parameters, resolve them against the consent
  (``consent.constraints.resolve_read``), fetch, and check the answer
  (``connectors.limits.enforce``).

The difference is the connector layer's own cost. The token check, the decision and the
ledger append are the same for every connector and are measured by ``run.sh`` with ``wrk``.

Usage, from the repository root::

    .venv/bin/python benchmarks/connector_layer.py [--reads 2000]

Prints a Markdown table: median and p99 per read, and the layer's overhead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broker.db import make_engine  # noqa: E402
from commons.clock import city_zone  # noqa: E402
from connectors import civil_registry, local_taxes, meter_readings  # noqa: E402
from connectors.base import SubjectRef  # noqa: E402
from connectors.limits import enforce  # noqa: E402
from connectors.registry import ConnectorRegistry, ConnectorSpec  # noqa: E402
from consent.constraints import GrantedLimits, parse_read_parameters, resolve_read  # noqa: E402
from demo import bankya  # noqa: E402
from demo import civil_registry as demo_civil_registry  # noqa: E402
from demo import local_taxes as demo_local_taxes  # noqa: E402
from demo import meter_readings as demo_meter_readings  # noqa: E402
from demo.people import demo_people  # noqa: E402
from demo.social_assistance import demo_benefits, demo_connector_options  # noqa: E402
from demo.upstream import SocialAssistanceUpstream  # noqa: E402

API_KEY = "benchmark-api-key"


def _timed(call: Callable[[], Any], reads: int) -> list[float]:
    for _ in range(min(50, reads)):
        call()
    timings = []
    for _ in range(reads):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings


def _summary(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered) * 1e6, ordered[int(len(ordered) * 0.99) - 1] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=2000)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="serdika-connectors-bench-"))
    engine = make_engine(f"sqlite:///{work / 'sources.sqlite3'}")
    people = demo_people()
    today = datetime.now(city_zone()).date()
    households: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for person in people:
        households.setdefault(person["address"], (person["address"], []))[1].append(person)
    civil_registry.create_schema(engine)
    for index, (address, members) in enumerate(households.values()):
        demo_civil_registry.upsert_household(engine, f"hh-{index:04d}", address, members)
    local_taxes.create_schema(engine)
    demo_local_taxes.seed_demo(engine, people)
    meter_readings.create_schema(engine)
    demo_meter_readings.seed_demo(engine, people, today=today)
    bankya.write_demo_files(work / "bankya", people)
    upstream = SocialAssistanceUpstream(demo_benefits(people, today), API_KEY).start()

    registry = ConnectorRegistry.from_specs([
        ConnectorSpec("civil_registry", "civil_registry", {}, from_file=False),
        ConnectorSpec("local_taxes", "local_taxes", {}, from_file=False),
        ConnectorSpec("meter_readings", "meter_readings", {}, from_file=False),
        ConnectorSpec("bankya", "csv_files", bankya.demo_options(work / "bankya"),
                      from_file=False),
        ConnectorSpec("social_assistance", "http_json",
                      demo_connector_options(upstream.url.rstrip("/"), API_KEY),
                      from_file=False),
    ], engine=engine)

    maria = SubjectRef(people[0]["national_id"])
    elena = SubjectRef(next(p for p in people if p["given_name"] == "Елена")["national_id"])
    month_ago = (today - timedelta(days=30)).isoformat()
    cases = [
        ("civil_registry", "person", ["given_name", "family_name", "birth_date", "address"],
         maria, {}, None),
        ("civil_registry", "household", ["address", "size", "members"], maria, {}, None),
        ("local_taxes", "property_tax", None, maria, {}, None),
        ("meter_readings", "electricity", ["consumption", "total"], maria,
         {"granularity": "monthly"}, {"granularity": "monthly"}),
        ("meter_readings", "electricity", ["consumption", "total"], maria,
         {"granularity": "daily", "from": month_ago}, {"granularity": "daily"}),
        ("meter_readings", "electricity", ["consumption"], maria,
         {"granularity": "hourly", "from": month_ago}, None),
        ("bankya", "parking_permits", None, maria, {}, None),
        ("social_assistance", "benefits", None, elena, {}, None),
    ]

    rows = []
    for name, resource, fields, subject, args, stored in cases:
        description = registry.catalogue[name].resources[resource]
        wanted = fields or list(description.fields)
        connector = registry[name]

        def layer(description=description, wanted=wanted, connector=connector,
                  resource=resource, subject=subject, args=args, stored=stored) -> Any:
            limits = GrantedLimits.stored(stored)
            asked_from, asked_to, asked_granularity = parse_read_parameters(args)
            constraints = resolve_read(limits, description, asked_from=asked_from,
                                       asked_to=asked_to, asked_granularity=asked_granularity,
                                       today=datetime.now(city_zone()).date())
            return enforce(description, wanted, constraints,
                           connector.fetch(subject, resource, wanted, constraints))

        constraints = resolve_read(GrantedLimits.stored(stored), description,
                                   **dict(zip(("asked_from", "asked_to", "asked_granularity"),
                                              parse_read_parameters(args), strict=True)),
                                   today=today)
        records = sum(len(v) for v in layer().values() if isinstance(v, list))

        def fetch_only(connector=connector, subject=subject, resource=resource,
                       wanted=wanted, constraints=constraints) -> Any:
            return connector.fetch(subject, resource, wanted, constraints)

        reads = options.reads if "hourly" not in str(args) else max(50, options.reads // 10)
        fetch_median, fetch_p99 = _summary(_timed(fetch_only, reads))
        layer_median, layer_p99 = _summary(_timed(layer, reads))
        label = f"{name}.{resource}" + (f" {args.get('granularity')}" if args else "")
        rows.append((label, records, fetch_median, fetch_p99, layer_median, layer_p99))
    upstream.stop()

    print("| read | records | fetch median µs | fetch p99 µs | layer median µs | layer p99 µs "
          "| overhead µs (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, records, fm, fp, lm, lp in rows:
        print(f"| {label} | {records} | {fm:.0f} | {fp:.0f} | {lm:.0f} | {lp:.0f} "
              f"| {lm - fm:.0f} |")


if __name__ == "__main__":
    main()
