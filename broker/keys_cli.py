"""``serdika keys rotate``: a new signing key, or a new data key and everything sealed again.

Signing keys sign receipts and tree heads; the old public key stays in the JWKS
(``/oauth2/jwks``) for as long as what it signed is checked, which for a ledger is always.
Serving workers take a new key when they restart (gunicorn reloads them on SIGHUP).
The data key seals national identifiers, e-mail addresses and pseudonym keys: rotating it
keeps the older keys for opening and seals every value again under the new one
(:func:`consent.key_rotation.reseal`), in batches, beside a serving broker.
"""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from broker.keys import load_keys, rotate_data_key, rotate_signing_key
from broker.parts import current_broker
from consent.key_rotation import reseal
from consent.models import Subject


@click.group("keys")
def keys_group() -> None:
    """Rotate the broker's keys."""


@keys_group.command("rotate")
@click.option("--data", "data", is_flag=True, help="Rotate the data key and re-seal instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@with_appcontext
def rotate(data: bool, as_json: bool) -> None:
    """Make a new signing key current (or, with --data, a new data key)."""
    broker = current_broker()
    if not data:
        old, new = rotate_signing_key(broker.settings)
        outcome: dict[str, object] = {"rotated": "signing", "retired_kid": old, "kid": new}
        message = (
            f"Signing key {new} is current; {old} stays in the JWKS to check what it signed. "
            "Restart the serving workers (SIGHUP) so they sign with the new key."
        )
    else:
        version = rotate_data_key(broker.settings)
        keyring = load_keys(broker.settings).keyring
        with broker.db.sessions() as session, broker.db.writing(session):
            subjects = session.scalar(select(func.count(Subject.id))) or 0
            with click.progressbar(length=subjects, label="Sealing again", file=sys.stderr) as bar:
                renewed = reseal(session, keyring, progress=lambda done: bar.update(done))
        outcome = {"rotated": "data", "version": version, "resealed": renewed}
        message = (
            f"Data key version {version} is current; {renewed} value(s) sealed again. "
            "Restart the serving workers so they seal with it."
        )
    click.echo(json.dumps(outcome) if as_json else message)
