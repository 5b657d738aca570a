"""``serdika connectors list | check``: what is configured, and whether each source answers.

Both work without building the broker, so a connector that is misconfigured (which stops the
broker from starting) can still be found and named here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import click

from connectors.base import ConnectorConfigError, Health
from connectors.registry import ConnectorSpec, instantiate, origin

HEALTH_TIMEOUT = 15.0


def _configuration() -> tuple[list[ConnectorSpec], Any]:
    """The configured specs and an engine on the broker's database (for SQL sources)."""
    from broker.config import ConfigError, load_settings
    from broker.db import make_engine
    from broker.keys import load_keys
    from broker.sources import connector_specs

    try:
        settings = load_settings()
        specs = connector_specs(settings, load_keys(settings).secret_key)
    except (ConfigError, ConnectorConfigError) as exc:
        raise click.ClickException(str(exc)) from exc
    return specs, make_engine(settings.database_url)


def _table(headers: Sequence[str], rows: list[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


@click.group("connectors")
def connectors_group() -> None:
    """The data sources this broker reads (docs/connectors.md)."""


@connectors_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def connectors_list(as_json: bool) -> None:
    """List the configured connectors, their kind, origin and resources."""
    specs, engine = _configuration()
    rows = []
    try:
        for spec in specs:
            row: dict[str, Any] = {
                "name": spec.name,
                "kind": spec.kind,
                "origin": origin(spec.kind),
            }
            try:
                description = instantiate(spec, engine=engine).describe()
            except ConnectorConfigError as exc:
                row.update(source=None, resources=[], error=str(exc))
            else:
                row.update(source=description.label_en, resources=sorted(description.resources))
            rows.append(row)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(
        _table(
            ("NAME", "KIND", "ORIGIN", "SOURCE", "RESOURCES"),
            [
                (
                    r["name"],
                    r["kind"],
                    r["origin"],
                    r["source"] or "(misconfigured)",
                    ", ".join(r["resources"]) or r.get("error", ""),
                )
                for r in rows
            ],
        )
    )


def _check(spec: ConnectorSpec, engine: Any, pool: ThreadPoolExecutor) -> dict[str, Any]:
    started = time.monotonic()
    try:
        connector = instantiate(spec, engine=engine)
    except ConnectorConfigError as exc:
        return {
            "name": spec.name,
            "kind": spec.kind,
            "ok": False,
            "detail": f"configuration: {exc}",
            "ms": 0,
        }
    future = pool.submit(connector.health)
    try:
        health = future.result(timeout=HEALTH_TIMEOUT)
    except FutureTimeout:
        health = Health(False, f"no answer within {HEALTH_TIMEOUT:.0f} s")
    except Exception as exc:  # health() must not raise; report the connector that does
        health = Health(False, f"health() raised {type(exc).__name__}")
    if not isinstance(health, Health):
        health = Health(False, "health() did not return a Health")
    return {
        "name": spec.name,
        "kind": spec.kind,
        "ok": health.ok,
        "detail": health.detail,
        "ms": round((time.monotonic() - started) * 1000),
    }


@connectors_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def connectors_check(as_json: bool) -> None:
    """Build every connector and ask its source for a sign of life; exit 1 if any fails."""
    specs, engine = _configuration()
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="connector-check")
    try:
        results = [_check(spec, engine, pool) for spec in specs]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        engine.dispose()
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        click.echo(
            _table(
                ("NAME", "KIND", "STATUS", "TIME", "DETAIL"),
                [
                    (
                        r["name"],
                        r["kind"],
                        "ok" if r["ok"] else "FAIL",
                        f"{r['ms']} ms",
                        r["detail"],
                    )
                    for r in results
                ],
            )
        )
    if not all(result["ok"] for result in results):
        raise SystemExit(1)
