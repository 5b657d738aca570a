"""``serdika audit export`` and ``serdika audit verify``, offline and live, on both backends.

An installation per backend runs real consent flows and the CLI against it; the tamper tests
each get a scratch database, edit its ledger rows directly, and expect both the live verify
and an offline verify of a later export (against a head saved before) to name the entry.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from broker import create_app
from broker.app import build_broker
from broker.audit_cli import audit_group
from broker.config import load_settings
from broker.keys import public_jwk
from broker.main import main
from broker.migrate import upgrade
from broker.sequencer import head_signer, sequence_once
from consent.ledger import rfc9162, writers
from consent.ledger.entries import INSERT_ENTRY, LedgerEvent, append_entry, entry_row
from consent.ledger.heads import TreeHeadSigner, sign_head
from tests.conftest import _postgres_database
from tests.e2e.harness import serdika_command
from tests.flows import Flow

BASE_TIME = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def cli_env(var_dir: Path, database_url: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("SERDIKA_")}
    env["SERDIKA_VAR_DIR"] = str(var_dir)
    env["SERDIKA_DATABASE_URL"] = database_url
    return env


def invoke(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def offline(*args: str) -> Result:
    """``audit verify`` through its own group: no Flask app exists to be found."""
    return CliRunner().invoke(audit_group, list(args))


def append_some(broker: Any, count: int, start: int = 0) -> None:
    """Append ``count`` entries shaped like the broker's, a minute apart."""
    services = ("kindergarten", "parking")
    with broker.db.sessions() as session, broker.db.writing(session):
        for n in range(start, start + count):
            service = services[n % 2]
            append_entry(
                session,
                (LedgerEvent.CONSENT_GRANTED, LedgerEvent.DATA_READ)[n % 2],
                at=BASE_TIME + timedelta(minutes=n),
                consent_id=f"c{n // 2}",
                service=service,
                details={
                    "subject": f"p{n % 5}",
                    "purpose": f"{service}_purpose",
                    "fields": ["civil_registry.person.given_name", "civil_registry.person.address"],
                },
            )


def _database(backend: str, where: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{where / 'serdika.sqlite3'}"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A migrated installation with real consent flows and filler entries, sequenced."""
    var_dir = tmp_path_factory.mktemp(f"audit-{request.param}")
    urls = _database(request.param, var_dir)
    database_url = next(urls)
    upgrade(database_url)
    settings = load_settings(
        env={}, var_dir=var_dir, database_url=database_url, issuer="http://localhost"
    )
    app = create_app({"settings": settings, "TESTING": True})
    broker = app.extensions["serdika"]
    from broker.sources import demo_sources
    from demo.seed import seed

    with broker.db.sessions() as session:
        demo = seed(session, secret_key=broker.keys.secret_key, keyring=broker.keys.keyring,
                    sources=demo_sources(broker.settings, broker.connectors))
    client = app.test_client()
    Flow(client, demo["services"][0], demo["citizens"][0]).tokens()
    Flow(client, demo["services"][0], demo["citizens"][1]).decide(decision="deny")
    append_some(broker, 23)
    assert sequence_once(broker) is not None
    try:
        yield {
            "env": cli_env(var_dir, database_url),
            "app": app,
            "broker": broker,
            "demo": demo,
            "backend": request.param,
        }
    finally:
        broker.db.dispose()
        for _ in urls:  # drops the PostgreSQL database
            pass


def stored_entries(broker: Any) -> list[tuple[int, str]]:
    with broker.db.engine.connect() as connection:
        return [
            (int(i), e)
            for i, e in connection.execute(
                text('SELECT "index", entry FROM ledger_entries ORDER BY "index"')
            )
        ]


def export_file(env: dict[str, str | None], path: Path, *options: str) -> Result:
    result = invoke(env, "audit", "export", "--output", str(path), *options)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


def failed(result: Result, entry: int | None = None) -> str:
    assert result.exit_code == 1, (result.output, result.exception)
    assert "FAILED" in result.output and "Traceback" not in result.output
    if entry is not None:
        assert f"first bad entry {entry}" in result.output, result.output
    return result.output


# --- JSON Lines: export and offline verify ----------------------------------------------------


def test_jsonl_export_holds_every_entry_and_verifies_with_no_database(
    installation: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "ledger.jsonl"
    result = export_file(installation["env"], out)
    assert "exported" in result.stderr and "root" in result.stderr
    assert not (tmp_path / "ledger.jsonl.partial").exists()
    lines = [json.loads(line) for line in lines_of(out)]
    stored = stored_entries(installation["broker"])
    head = lines[-1]
    assert head["type"] == "tree_head"
    assert head["tree_head"]["tree_size"] == len(stored) == len(lines) - 1
    assert head["tree_head"]["jwk"]["kid"] == head["tree_head"]["key_id"]
    raw = lines_of(out)
    for (index, entry_text), line, raw_line in zip(stored, lines, raw, strict=False):
        assert line["type"] == "entry" and line["index"] == index
        assert raw_line.rstrip("\n").endswith(f',"entry":{entry_text}}}'), "stored text as is"

    # Offline, in a fresh directory: no database configured, an empty var dir.
    empty, var = tmp_path / "elsewhere", tmp_path / "empty-var"
    empty.mkdir()
    var.mkdir()
    (empty / "ledger.jsonl").write_bytes(out.read_bytes())
    env = {key: value for key, value in os.environ.items() if not key.startswith("SERDIKA_")}
    env["SERDIKA_VAR_DIR"] = str(var)
    module = subprocess.run(
        [sys.executable, "-m", "broker.audit_cli", "verify", "ledger.jsonl"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert module.returncode == 0, module.stderr
    assert module.stdout.startswith(f"OK: {len(stored)} entries")
    assert list(var.iterdir()) == [] and sorted(p.name for p in empty.iterdir()) == [
        "ledger.jsonl"
    ], "built nothing: no database, no key files"
    command = subprocess.run(
        [serdika_command(), "audit", "verify", "ledger.jsonl"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    assert command.stdout.startswith(f"OK: {len(stored)} entries")
    assert not list(tmp_path.rglob("*.sqlite3")), "no database was created"


def test_live_verify_and_previous_head(installation: dict[str, Any], tmp_path: Path) -> None:
    env = installation["env"]
    client = installation["app"].test_client()
    saved = tmp_path / "head.json"
    saved.write_text(json.dumps(client.get("/api/v1/audit/tree-head").get_json()))
    live = invoke(env, "audit", "verify", "--previous-head", str(saved))
    assert live.exit_code == 0, live.output
    assert live.output.startswith("OK: ")

    append_some(installation["broker"], 3, start=100)  # the log grows after the saved head
    out = tmp_path / "later.jsonl"
    export_file(env, out)
    ok = offline("verify", str(out), "--previous-head", str(saved))
    assert ok.exit_code == 0, ok.output
    jwk = tmp_path / "jwk.json"
    jwk.write_text(json.dumps({"keys": [installation["broker"].keys.public_jwk()]}))
    assert offline("verify", str(out), "--public-key", str(jwk)).exit_code == 0


# --- CSV and JSON-LD --------------------------------------------------------------------------


def test_csv_export(installation: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "ledger.csv"
    export_file(installation["env"], out, "--format", "csv")
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    stored = stored_entries(installation["broker"])
    assert [int(row["index"]) for row in rows] == [index for index, _ in stored]
    assert [row["entry"] for row in rows] == [entry for _, entry in stored]
    for row in rows:
        entry = json.loads(row["entry"])
        assert row["event"] == entry["event"] and row["time"] == entry["time"]
        assert row["subject"] == entry.get("subject", "")
        names = entry.get("fields", entry.get("scope", []))
        assert row["fields"] == ";".join(names)
    assert any(row["event"] == "consent:granted" and row["fields"] for row in rows)


def test_jsonld_export_holds_dpv_consent_records(
    installation: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "ledger.jsonld"
    export_file(installation["env"], out, "--format", "jsonld")
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["@context"]["dpv"] == "https://w3id.org/dpv#"
    stored = {index: json.loads(entry) for index, entry in stored_entries(installation["broker"])}
    consent_events = {i for i, e in stored.items() if e["event"].startswith("consent:")}
    records = document["@graph"]
    assert {r["serdika:ledgerIndex"] for r in records} == consent_events
    statuses = {r["dpv:hasConsentStatus"]["@id"] for r in records}
    assert {"dpv:ConsentRequested", "dpv:ConsentGiven", "dpv:ConsentRefused"} <= statuses
    for record in records:
        entry = stored[record["serdika:ledgerIndex"]]
        assert record["@type"] == "dpv:ConsentRecord"
        assert record["dct:isVersionOf"]["@id"] == f"urn:serdika:consent:{entry['consent']}"
        assert record["dpv:hasDataSubject"]["@id"].endswith(entry["subject"])
        assert record["dpv:hasDataController"]["@id"].endswith(entry["service"])
        assert record["dct:created"] == entry["time"]
    granted = [r for r in records if r["dpv:hasConsentStatus"]["@id"] == "dpv:ConsentGiven"]
    assert any(r.get("dpv:hasPersonalData") and r.get("dpv:hasPurpose") for r in granted)
    assert document["serdika:treeHead"]["tree_size"] >= len(stored) - 3


# --- filtered exports -------------------------------------------------------------------------


def test_filtered_export_carries_inclusion_proofs(
    installation: dict[str, Any], tmp_path: Path
) -> None:
    env = installation["env"]
    out = tmp_path / "parking.jsonl"
    since = (BASE_TIME + timedelta(minutes=4)).isoformat()
    export_file(env, out, "--service", "parking", "--since", since)
    lines = lines_of(out)
    entries = [json.loads(line) for line in lines[:-1]]
    assert entries and all(e["entry"]["service"] == "parking" for e in entries)
    assert all(e["entry"]["time"] >= "2026-03-01T09:04" for e in entries)
    assert all(e["inclusion_proof"]["leaf_index"] == e["index"] for e in entries)
    assert "filter" in json.loads(lines[-1])
    ok = offline("verify", str(out))
    assert ok.exit_code == 0, ok.output

    changed = list(lines)
    changed[1] = changed[1].replace('"p', '"q', 1)
    failed(offline("verify", str(write_lines(tmp_path / "c.jsonl", changed))), entries[1]["index"])
    swapped = [lines[1], lines[0], *lines[2:]]
    failed(offline("verify", str(write_lines(tmp_path / "s.jsonl", swapped))), entries[0]["index"])
    unfiltered = [
        *lines[:-1],
        json.dumps({k: v for k, v in json.loads(lines[-1]).items() if k != "filter"}) + "\n",
    ]
    failed(offline("verify", str(write_lines(tmp_path / "u.jsonl", unfiltered))), 0)

    empty = tmp_path / "none.jsonl"
    export_file(env, empty, "--since", "2100-01-01T00:00:00Z")
    assert len(lines_of(empty)) == 1
    assert offline("verify", str(empty)).exit_code == 0


# --- edited exports, interrupted exports, keys, other logs ------------------------------------


@pytest.fixture
def exported(installation: dict[str, Any], tmp_path: Path) -> list[str]:
    out = tmp_path / "ledger.jsonl"
    export_file(installation["env"], out)
    return lines_of(out)


def test_edited_exports_fail_naming_the_entry(exported: list[str], tmp_path: Path) -> None:
    def check(name: str, lines: list[str], entry: int | None) -> str:
        return failed(offline("verify", str(write_lines(tmp_path / name, lines))), entry)

    size = len(exported) - 1
    entry_5 = json.loads(exported[5])
    byte = list(exported)
    byte[5] = byte[5].replace(
        f'"time":"{entry_5["entry"]["time"]}"', f'"time":"{entry_5["entry"]["time"][:-2]}9Z"'
    )
    assert byte[5] != exported[5]
    assert "entry 5 was changed" in check("byte.jsonl", byte, 5)

    deleted = exported[:7] + exported[8:]
    assert "entry 7 is missing" in check("deleted.jsonl", deleted, 7)
    swapped = [*exported[:3], exported[4], exported[3], *exported[5:]]
    check("swapped.jsonl", swapped, 3)
    last_missing = exported[:-2] + exported[-1:]
    assert f"entry {size - 1} is missing" in check("last.jsonl", last_missing, size - 1)

    forged = json.loads(exported[0])
    forged["index"] = forged["entry"]["index"] = size
    forged_line = json.dumps(forged) + "\n"
    added = [*exported[:-1], forged_line, exported[-1]]
    assert f"entry {size} is not covered" in check("added.jsonl", added, size)
    after = [*exported, forged_line]
    assert "follows the tree head" in check("after.jsonl", after, size)
    assert "no tree head" in check("cut.jsonl", exported[:-1], None)

    # Changing an entry and its leaf_hash together: the root no longer matches.
    both = json.loads(exported[2])
    both["entry"]["subject"] = "someone-else"
    both["leaf_hash"] = base64.b64encode(rfc9162.leaf_hash(rfc8785.dumps(both["entry"]))).decode()
    output = check("both.jsonl", [*exported[:2], json.dumps(both) + "\n", *exported[3:]], None)
    assert "do not hash to the signed root" in output


def test_interrupted_export_leaves_no_file(
    installation: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "PAGE_SIZE", 5)
    original = writers.JsonlWriter.write

    def crash_on_second_page(self: writers.JsonlWriter, row: writers.ExportRow) -> None:
        if row.index >= 7:
            raise OSError("disk full")
        original(self, row)

    monkeypatch.setattr(writers.JsonlWriter, "write", crash_on_second_page)
    out = tmp_path / "ledger.jsonl"
    result = invoke(installation["env"], "audit", "export", "--output", str(out))
    assert result.exit_code != 0
    assert "incomplete" in result.output
    assert not out.exists()
    partial = tmp_path / "ledger.jsonl.partial"
    assert len(lines_of(partial)) == 7
    assert "no tree head" in failed(offline("verify", str(partial)))

    monkeypatch.setattr(writers.JsonlWriter, "write", original)  # small pages, complete export
    export_file(installation["env"], out)
    assert offline("verify", str(out)).exit_code == 0


def test_wrong_public_key_fails_the_signature(exported: list[str], tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ledger.jsonl", exported)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(public_jwk(Ed25519PrivateKey.generate(), "other")))
    assert "signature does not verify" in failed(
        offline("verify", str(path), "--public-key", str(other))
    )

    # A key swapped into the file under the head's kid is not the key that kid names: the kid
    # is the key's RFC 7638 thumbprint, so the swap is refused before any signature is checked.
    head = json.loads(exported[-1])
    head["tree_head"]["jwk"] = public_jwk(Ed25519PrivateKey.generate(), head["tree_head"]["key_id"])
    forged = write_lines(tmp_path / "forged.jsonl", [*exported[:-1], json.dumps(head) + "\n"])
    assert "RFC 7638 thumbprint" in failed(offline("verify", str(forged)))


def test_previous_head_of_another_log_fails_consistency(
    installation: dict[str, Any], exported: list[str], tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "ledger.jsonl", exported)
    store = rfc9162.MemoryNodeStore(rfc9162.leaf_hash(bytes([n])) for n in range(3))
    signer = head_signer(installation["broker"])
    head = sign_head(signer, 3, rfc9162.root_hash(store, 3), datetime.now(UTC))
    other_log = tmp_path / "other-log.json"
    other_log.write_text(json.dumps(head.as_json()))
    assert "not consistent with the previous head" in failed(
        offline("verify", str(path), "--previous-head", str(other_log))
    )

    key = Ed25519PrivateKey.generate()
    stranger = sign_head(
        TreeHeadSigner(key, "stranger"), 3, rfc9162.root_hash(store, 3), datetime.now(UTC)
    )
    other_key = tmp_path / "other-key.json"
    other_key.write_text(json.dumps(stranger.as_json()))
    assert "not consistent with the previous head" in failed(
        offline("verify", str(path), "--previous-head", str(other_key))
    )

    bigger = sign_head(signer, len(exported) + 5, rfc9162.EMPTY_ROOT, datetime.now(UTC))
    longer = tmp_path / "longer.json"
    longer.write_text(json.dumps(bigger.as_json()))
    assert "entries were removed" in failed(
        offline("verify", str(path), "--previous-head", str(longer))
    )


# --- tampering with the store -----------------------------------------------------------------

ENTRIES = 30


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fresh database of its own: the tamper tests leave it wrecked."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    urls = _database(request.param, var_dir)
    database_url = next(urls)
    upgrade(database_url)
    settings = load_settings(env={}, var_dir=var_dir, database_url=database_url)
    broker = build_broker(settings)
    append_some(broker, ENTRIES)
    head = sequence_once(broker)
    assert head is not None and head.tree_size == ENTRIES
    saved = tmp_path / "head-before.json"
    saved.write_text(json.dumps(head.as_json()))
    try:
        yield {"env": cli_env(var_dir, database_url), "broker": broker, "saved": saved}
    finally:
        broker.db.dispose()
        for _ in urls:
            pass


def _row(connection: Any, index: int) -> dict[str, Any]:
    return dict(
        connection.execute(text('SELECT * FROM ledger_entries WHERE "index" = :i'), {"i": index})
        .mappings()
        .one()
    )


def _set(connection: Any, index: int, entry: str, leaf: bytes | None = None) -> None:
    sql = (
        'UPDATE ledger_entries SET entry = :e WHERE "index" = :i'
        if leaf is None
        else 'UPDATE ledger_entries SET entry = :e, leaf_hash = :h WHERE "index" = :i'
    )
    connection.execute(text(sql), {"e": entry, "h": leaf, "i": index})


def edit_text(connection: Any) -> int:
    row = _row(connection, 4)
    _set(connection, 4, row["entry"].replace('"subject":"p4"', '"subject":"p1"'))
    return 4


def edit_text_and_hash(connection: Any) -> int:
    row = _row(connection, 11)
    changed = row["entry"].replace('"purpose":"parking_purpose"', '"purpose":"marketing"')
    assert changed != row["entry"]
    _set(connection, 11, changed, rfc9162.leaf_hash(changed.encode()))
    return 11


def delete_row(connection: Any) -> int:
    connection.execute(text('DELETE FROM ledger_entries WHERE "index" = 9'))
    return 9


def insert_row(connection: Any) -> int:
    """Slip a forged entry in at 6: later rows move up one, the ledger grows by one."""
    connection.execute(
        text('UPDATE ledger_entries SET "index" = "index" + 1000000 WHERE "index" >= 6')
    )
    connection.execute(
        text('UPDATE ledger_entries SET "index" = "index" - 999999 WHERE "index" >= 1000000')
    )
    connection.execute(
        INSERT_ENTRY,
        entry_row(
            6,
            LedgerEvent.CONSENT_GRANTED,
            at=BASE_TIME,
            consent_id="forged",
            service="parking",
            details={"subject": "p0", "purpose": "marketing"},
        ),
    )
    connection.execute(text("UPDATE ledger_head SET size = size + 1"))
    return 6


def swap_rows(connection: Any) -> int:
    first, second = _row(connection, 3), _row(connection, 8)
    _set(connection, 3, second["entry"], second["leaf_hash"])
    _set(connection, 8, first["entry"], first["leaf_hash"])
    return 3


TAMPERING = [edit_text, edit_text_and_hash, delete_row, insert_row, swap_rows]


@pytest.mark.parametrize("tamper", TAMPERING, ids=[t.__name__ for t in TAMPERING])
def test_tampering_is_caught_live_and_offline(
    scratch: dict[str, Any], tmp_path: Path, tamper: Any
) -> None:
    env = scratch["env"]
    assert invoke(env, "audit", "verify").exit_code == 0
    with scratch["broker"].db.engine.begin() as connection:
        entry = tamper(connection)

    live = invoke(env, "audit", "verify")
    output = failed(live, entry)
    assert f"entry {entry} " in output

    out = tmp_path / "after.jsonl"
    export_file(env, out)
    later = offline("verify", str(out), "--previous-head", str(scratch["saved"]))
    assert f"entry {entry} " in failed(later, entry)


def test_a_row_beyond_the_ledger_is_caught_live(scratch: dict[str, Any]) -> None:
    with scratch["broker"].db.engine.begin() as connection:
        connection.execute(
            INSERT_ENTRY,
            entry_row(
                ENTRIES,
                LedgerEvent.CONSENT_REVOKED,
                at=BASE_TIME,
                consent_id="c1",
                service="parking",
                details={"subject": "p1"},
            ),
        )
    output = failed(invoke(scratch["env"], "audit", "verify"), ENTRIES)
    assert "beyond the ledger's size" in output


@pytest.mark.parametrize(
    ("level", "index", "message"),
    [
        (2, 1, "stored tree node (2, 1)"),  # inside the tree: proofs of entries 4 .. 7 use it
        (4, 0, "stored tree's nodes do not hash"),  # on the root's path
    ],
)
def test_a_changed_tree_node_is_caught_live(
    scratch: dict[str, Any], level: int, index: int, message: str
) -> None:
    with scratch["broker"].db.engine.begin() as connection:
        connection.execute(
            text('UPDATE ledger_nodes SET hash = :h WHERE level = :l AND "index" = :i'),
            {"h": b"\x00" * 32, "l": level, "i": index},
        )
    output = failed(invoke(scratch["env"], "audit", "verify"))
    assert message in output


@pytest.mark.parametrize(("column", "value"), [
    ("consent_id", "someone-elses"), ("event", "data:read_refused"),
    ("service_client_id", "another-service"), ("purpose", "marketing"),
])
def test_a_changed_indexed_column_is_caught_live(scratch: dict[str, Any], column: str,
                                                 value: str) -> None:
    """The entry's text is left alone; only the column its filters are served from changes."""
    with scratch["broker"].db.engine.begin() as connection:
        connection.execute(text(f'UPDATE ledger_entries SET {column} = :v WHERE "index" = 7'),  # noqa: S608
                           {"v": value})
    output = failed(invoke(scratch["env"], "audit", "verify"), 7)
    assert f"entry 7's indexed columns ({column})" in output


def test_deleted_signed_heads_are_caught_live(scratch: dict[str, Any]) -> None:
    with scratch["broker"].db.engine.begin() as connection:
        connection.execute(text("DELETE FROM tree_heads"))
    output = failed(invoke(scratch["env"], "audit", "verify"))
    assert "the signed heads were deleted" in output


def test_a_changed_tree_size_is_caught_live(scratch: dict[str, Any]) -> None:
    with scratch["broker"].db.engine.begin() as connection:
        connection.execute(text("UPDATE ledger_tree SET size = size - 5"))
    output = failed(invoke(scratch["env"], "audit", "verify"))
    assert "the tree's size was changed" in output


def _auditor(installation: dict[str, Any]) -> dict[str, str]:
    auditor = installation["demo"]["auditors"][0]
    client = installation["app"].test_client()
    answer = client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                "scope": "audit:read"},
                         headers={"Authorization": "Basic " + base64.b64encode(
                             f"{auditor['client_id']}:{auditor['client_secret']}".encode()
                         ).decode()})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


@pytest.mark.parametrize("query", ["", "?service=kindergartens",
                                   "?since=2026-01-01T00:00:00Z&until=2199-01-01T00:00:00Z"])
def test_a_remote_auditor_verifies_what_the_api_exports(installation: dict[str, Any],
                                                        tmp_path: Path, query: str) -> None:
    """The remote audit path: GET /api/v1/audit/export, save it, serdika audit verify it."""
    assert sequence_once(installation["broker"]) is not None
    client = installation["app"].test_client()
    response = client.get(f"/api/v1/audit/export{query}", headers=_auditor(installation))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/jsonl"
    saved = tmp_path / "remote.jsonl"
    saved.write_bytes(response.get_data())
    lines = saved.read_text().splitlines()
    assert json.loads(lines[-1])["type"] == "tree_head"
    verified = offline("verify", str(saved))
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("OK: ")


def test_the_export_api_needs_an_auditor(installation: dict[str, Any]) -> None:
    client = installation["app"].test_client()
    assert client.get("/api/v1/audit/export").status_code == 401
