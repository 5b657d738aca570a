"""``serdika audit ...``: export the ledger, verify it offline or live.

``audit verify FILE`` builds nothing from the environment (no app, no database, no key files):
only ``audit export`` and the live ``audit verify`` (without FILE) load the broker. It also runs
as ``python -m broker.audit_cli verify FILE``, which does not even look for an app.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from broker.parts import EXTENSION, Broker, current_broker
from broker.sequencer import sequence_once
from consent.ledger import live, offline, writers
from consent.ledger.encoding import b64
from consent.ledger.heads import SignedTreeHead, load_head
from consent.ledger.jwk import KeyFormatError, keys_from_document
from consent.ledger.report import Report
from consent.ledger.sequencing import latest_head
from consent.ledger.tree import LedgerCorrupted


def _live_broker() -> Broker:
    """The broker of the app being run, created here when the command had none pushed."""
    if current_app:
        return current_broker()
    ctx = click.get_current_context()
    info = ctx.find_object(ScriptInfo)
    if info is None:
        raise click.UsageError("This command needs the broker: run it as 'serdika audit ...'.")
    app = info.load_app()
    ctx.with_resource(app.app_context())
    return app.extensions[EXTENSION]  # type: ignore[no-any-return]


@click.group("audit")
def audit_group() -> None:
    """Export and verify the consent ledger."""


# --- export -----------------------------------------------------------------------------------


def _when(value: str | None, option: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            "an ISO 8601 time such as 2026-11-26T10:00:00Z", param_hint=option
        ) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _fresh_head(broker: Any) -> SignedTreeHead:
    """Sequence first, so the head covers every entry appended so far."""
    try:
        head = sequence_once(broker)
    except LedgerCorrupted as exc:
        click.echo(
            f"warning: the ledger cannot be sequenced ({exc}); exporting up to the "
            "latest signed head. Run `serdika audit verify`.",
            err=True,
        )
        head = None
    if head is None:
        with broker.db.sessions() as session:
            head = latest_head(session)
    if head is None:
        raise click.ClickException("the ledger has no signed tree head; try again")
    return head


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A progress bar on a terminal (stderr), nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label="Exporting", file=sys.stderr) as bar:
        yield bar


@audit_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(writers.FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl: verifiable with `audit verify`; csv: a row per entry; jsonld: "
    "ISO/IEC TS 27560 consent records in W3C DPV terms.",
)
@click.option(
    "--since",
    metavar="ISO",
    help="Only entries recorded at or after this time (ISO 8601, e.g. 2026-11-26T10:00:00Z).",
)
@click.option("--until", metavar="ISO", help="Only entries recorded before this time.")
@click.option("--service", metavar="CLIENT_ID", help="Only entries of this service.")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The file to write (written as FILE.partial, renamed when complete).",
)
@with_appcontext
def export_command(
    fmt: str, since: str | None, until: str | None, service: str | None, output: Path
) -> None:
    """Export the ledger entries and the signed tree head to FILE, in constant memory.

    The broker sequences first, so the head covers every entry so far. A complete (unfiltered)
    JSON Lines export holds entries 0 .. tree_size-1 and lets `serdika audit verify FILE`
    prove nothing was changed, removed, added or reordered. With --since, --until or
    --service the export holds a subset and cannot prove completeness: each entry then
    carries its inclusion proof, and verify checks that every entry given is in the signed
    tree, not that none is missing.
    """
    filters = writers.ExportFilter(_when(since, "--since"), _when(until, "--until"), service)
    broker = current_broker()
    head = _fresh_head(broker)
    jwk = broker.keys.jwk_of(head.key_id) or broker.keys.public_jwk()
    if jwk.get("kid") != head.key_id:
        click.echo(
            f"warning: the head is signed by key {head.key_id}, which this broker does not "
            f"know; verify it with --public-key",
            err=True,
        )
    partial = output.with_name(output.name + ".partial")
    try:
        with (
            open(partial, "w", encoding="utf-8", newline="") as out,
            _progress(head.tree_size) as bar,
        ):
            done = 0

            def advance(index: int) -> None:
                nonlocal done
                if bar is not None:
                    bar.update(index + 1 - done)
                done = index + 1

            writer = writers.WRITERS[fmt](out)
            written = writers.export_ledger(broker.db.sessions, head, jwk, writer, filters, advance)
            out.flush()
            os.fsync(out.fileno())
    except Exception as exc:
        raise click.ClickException(f"the export failed ({exc}); {partial} is incomplete") from exc
    os.replace(partial, output)
    kind = (
        " (filtered: entries carry inclusion proofs)" if filters.active and fmt == "jsonl" else ""
    )
    click.echo(
        f"exported {written} entries{kind} to {output}; tree size {head.tree_size}, "
        f"root {b64(head.root_hash)}",
        err=True,
    )


# --- verify -----------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {what}: {exc}") from exc


def _print(report: Report) -> None:
    click.echo(report.headline())
    for line in report.details():
        click.echo(line, err=line.startswith("  note"))
    if not report.ok:
        sys.exit(1)


@audit_group.command("verify")
@click.argument(
    "file",
    required=False,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
)
@click.option(
    "--previous-head",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A tree head saved earlier (e.g. from GET /api/v1/audit/tree-head): the "
    "log must extend it.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The broker's public key as a JWK or its JWKS (default: the key the export "
    "carries, which you should compare with the broker's JWKS).",
)
def verify_command(file: Path | None, previous_head: Path | None, public_key: Path | None) -> None:
    """Verify a JSON Lines export FILE offline, or without FILE the live store.

    Offline it needs no database and no network: it checks every entry, their order, the
    root, the head's signature and, with --previous-head, that the log extends that head.
    Exits 0 when all holds, 1 naming the first bad entry otherwise.
    """
    previous = None
    if previous_head is not None:
        try:
            previous = load_head(_read_json(previous_head, "--previous-head"))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--previous-head") from exc
    keys = None
    if public_key is not None:
        try:
            keys = keys_from_document(_read_json(public_key, "--public-key"))
        except KeyFormatError as exc:
            raise click.BadParameter(str(exc), param_hint="--public-key") from exc
    if file is None:
        broker = _live_broker()
        if keys is None:
            keys = broker.keys.verification_keys()
        _print(live.verify_store(broker.db.sessions, keys, previous=previous))
        return
    with nullcontext(sys.stdin.buffer) if str(file) == "-" else open(file, "rb") as lines:
        report = offline.verify_export(lines, public_keys=keys, previous=previous)
    _print(report)


if __name__ == "__main__":  # python -m broker.audit_cli verify FILE: offline, no app looked for
    audit_group(prog_name="serdika audit")
