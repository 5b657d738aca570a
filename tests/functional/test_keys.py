"""``serdika keys rotate``: a new signing key while the old one stays to check what it signed,
and a new data key with every sealed value sealed again."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from flask import Flask

from broker import create_app
from broker.config import load_settings
from broker.migrate import upgrade
from consent.accounts import create_subject
from consent.crypto import subject_context
from consent.ledger.entries import LedgerEvent, append_entry
from consent.models import Subject
from consent.types import utcnow
from tests.conftest import _postgres_database


class Installation:
    """A broker of its own (its own var/ and database): rotating keys touches files."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.settings = load_settings(env={}, var_dir=root / "var", database_url=database_url,
                                      issuer="http://localhost")
        upgrade(self.settings.database_url)
        self.apps: list[Flask] = []

    def start(self) -> Flask:
        """A node (re)started: it loads the keys as they now are."""
        app = create_app({"settings": self.settings, "TESTING": True})
        self.apps.append(app)
        return app

    def cli(self, *args: str) -> Any:
        result = self.start().test_cli_runner().invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    def close(self) -> None:
        for app in self.apps:
            app.extensions["serdika"].db.dispose()


@pytest.fixture
def installation(tmp_path: Path, database_url: str) -> Iterator[Installation]:
    """On the backend under test, a database of its own: every sealed value and signed head in
    it is this installation's."""
    with ExitStack() as stack:
        if database_url.startswith("postgresql"):
            url = stack.enter_context(contextmanager(_postgres_database)())
        else:
            url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
        own = Installation(tmp_path, url)
        stack.callback(own.close)
        yield own


def _sign_head(app: Flask) -> str:
    broker = app.extensions["serdika"]
    with broker.db.sessions() as session, broker.db.writing(session):
        append_entry(session, LedgerEvent.SUBJECT_ERASED, at=utcnow(), details={"subject": "x"})
    result = app.test_cli_runner().invoke(args=["ledger", "sequence"])
    assert result.exit_code == 0, result.output
    return app.test_client().get("/api/v1/audit/tree-head").get_json()["key_id"]


def test_a_rotated_signing_key_stays_in_the_jwks_and_checks_what_it_signed(installation):
    before = installation.start()
    old_kid = _sign_head(before)

    rotated = json.loads(installation.cli("keys", "rotate", "--json"))
    assert rotated == {"rotated": "signing", "retired_kid": old_kid, "kid": rotated["kid"]}
    assert rotated["kid"] != old_kid

    after = installation.start()
    assert _sign_head(after) == rotated["kid"]
    jwks = after.test_client().get("/oauth2/jwks").get_json()
    assert [key["kid"] for key in jwks["keys"]] == [rotated["kid"], old_kid]
    assert "d" not in jwks["keys"][1]  # public only
    retired = installation.settings.var_dir / "signing_key.pem.retired.json"
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    # Live verify checks the heads signed before and after with the key each names.
    result = after.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_a_rotated_data_key_seals_everything_again(installation):
    app = installation.start()
    broker = app.extensions["serdika"]
    with broker.db.sessions() as session, broker.db.writing(session):
        subject = create_subject(session, broker.keys.keyring, username=f"k_{id(app)}",
                                 password="a long enough password", national_id="8803144710")
        subject_id = subject.id
    old_keyring = broker.keys.keyring

    outcome = json.loads(installation.cli("keys", "rotate", "--data", "--json"))
    assert outcome["rotated"] == "data" and outcome["version"] == 1
    assert outcome["resealed"] >= 2  # the national id and the pseudonym key, at least

    restarted = installation.start().extensions["serdika"]
    keyring = restarted.keys.keyring
    with restarted.db.sessions() as session:
        subject = session.get(Subject, subject_id)
        sealed = subject.national_id_ciphertext
        assert keyring.is_current(sealed)
        assert keyring.open(sealed, subject_context(subject_id)) == b"8803144710"
        # The blind index does not rotate: the citizen is still found by national id.
        assert subject.national_id_index == old_keyring.blind_index("8803144710")
    # The old data key alone can no longer open it: nothing is left under it.
    with pytest.raises(InvalidTag):
        old_keyring.open(sealed, subject_context(subject_id))
