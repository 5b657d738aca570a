"""``serdika receipt ...``: check a citizen's consent receipt offline.

Nothing here needs the broker's app, settings or database: the bundle the wallet hands out
carries the receipt, its ledger entry, an inclusion proof, the signed tree head and the public
key. ``python -m broker.receipt_cli verify FILE`` runs the same check without loading the
``serdika`` app at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import click

from consent.ledger.jwk import KeyFormatError, keys_from_document, pick_key
from consent.receipts import verify_bundle


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        _fail([f"cannot read {what} {path}: {exc}"])


def _fail(messages: list[str]) -> NoReturn:
    for message in messages:
        click.echo(f"FAILED: {message}", err=True)
    raise SystemExit(1)


@click.group("receipt")
def receipt_group() -> None:
    """Consent receipts."""


@receipt_group.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The broker's public key (a JWK or its JWKS, as published at "
    "/.well-known/jwks.json); default: the key inside the bundle.",
)
def receipt_verify(file: Path, public_key_file: Path | None) -> None:
    """Check a downloaded receipt bundle FILE offline: signatures, entry, inclusion proof.

    Exits 0 and prints "OK ..." when valid, else exits 1 naming what failed.
    """
    bundle = _read_json(file, "the receipt bundle")
    key = None
    if public_key_file is not None:
        try:
            # A JWKS (the broker's, with its retired keys) gives the key of the bundle's kid.
            keys = keys_from_document(_read_json(public_key_file, "the public key"))
            key = pick_key(keys, str(bundle.get("jwk", {}).get("kid", "")))
            if key is None:
                raise KeyFormatError("no key of it signed this receipt")
        except ValueError as exc:
            _fail([f"the public key in {public_key_file} is unusable: {exc}"])
    errors = verify_bundle(bundle, key)
    if errors:
        _fail(errors)
    head = bundle["tree_head"]
    source = (
        "the given public key"
        if key is not None
        else f"the bundled key {bundle['jwk'].get('kid', '(no kid)')} (compare it with the "
        "broker's published JWKS)"
    )
    click.echo(
        f"OK: {bundle['entry'].get('event')} receipt for consent "
        f"{bundle['entry'].get('consent')}, ledger entry {bundle['ledger_index']}, "
        f"included in the signed tree head of size {head['tree_size']}; "
        f"signatures checked with {source}"
    )


if __name__ == "__main__":
    receipt_group()
