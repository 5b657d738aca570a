"""The ``serdika`` command line (docs/architecture.md, "CLI"), against a temporary var dir.

Most commands run in-process through Click's ``CliRunner`` on SQLite and PostgreSQL; the
refusals and the first run run ``serdika`` as a subprocess, to see exactly what an
administrator sees (a clear message, a non-zero exit, no traceback).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select

from broker import create_app
from broker.config import load_settings, normalise_database_url
from broker.main import main
from commons import egn
from consent.accounts import authenticate
from consent.crypto import token_hash
from consent.models import Consent, ConsentStatus, Purpose, Service, Subject
from tests.conftest import _postgres_database
from tests.e2e.harness import serdika_command
from tests.flows import Flow, expire_consent

KEY_FILES = ("signing_key.pem", "data_keys.json", "secret_key")
VALID_EGN = egn.make(date(1990, 1, 2), 123)
INVALID_EGN = VALID_EGN[:9] + str((int(VALID_EGN[9]) + 1) % 10)


def cli_env(var_dir: Path, database_url: str | None = None) -> dict[str, str | None]:
    """The environment for one installation; any other SERDIKA_* setting is unset."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("SERDIKA_")}
    env["SERDIKA_VAR_DIR"] = str(var_dir)
    env["SERDIKA_DATABASE_URL"] = database_url or f"sqlite:///{var_dir / 'serdika.sqlite3'}"
    return env


def invoke(env: dict[str, str | None], *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input)


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def run(env: dict[str, str | None], *args: str, input: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    full = {key: value for key, value in os.environ.items() if key not in env}
    full.update({key: value for key, value in env.items() if value is not None})
    return subprocess.run([serdika_command(), *args], env=full, input=input, text=True,
                          capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[dict[str, Any]]:
    """A migrated installation per backend (its demo data seeded by the tests that need it)."""
    var_dir = tmp_path_factory.mktemp(f"cli-{request.param}")
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{var_dir / 'serdika.sqlite3'}"])
    else:
        urls = _postgres_database()
    database_url = next(urls)
    env = cli_env(var_dir, database_url)
    result = invoke(env, "db", "upgrade")
    assert result.exit_code == 0, (result.output, result.exception)
    engine = create_engine(normalise_database_url(database_url))
    try:
        yield {"env": env, "var_dir": var_dir, "database_url": database_url,
               "engine": engine, "backend": request.param}
    finally:
        engine.dispose()
        for _ in urls:  # drops the PostgreSQL database
            pass


def seeded(installation: dict[str, Any]) -> dict[str, Any]:
    return ok_json(invoke(installation["env"], "demo", "seed", "--json"))


# --- db upgrade, key files --------------------------------------------------------------------

def test_db_upgrade_twice_and_keys_made_once(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    env = cli_env(var_dir)
    first = run(env, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    contents = {}
    for name in KEY_FILES:
        path = var_dir / name
        assert path.is_file(), f"{name} is generated on first run"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        contents[name] = path.read_bytes()
    assert contents["signing_key.pem"].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert set(json.loads(contents["data_keys.json"])) == {"data_key", "index_key"}
    assert len(contents["secret_key"].strip()) >= 32

    second = run(env, "db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in first.stderr + second.stderr
    for name in KEY_FILES:
        assert (var_dir / name).read_bytes() == contents[name], f"{name} is reused"
        assert stat.S_IMODE((var_dir / name).stat().st_mode) == 0o600
    assert not [p.name for p in var_dir.iterdir() if p.name.startswith(".")], \
        "no temporary key files left behind"


# --- demo seed --------------------------------------------------------------------------------

def test_demo_seed_is_idempotent(installation: dict[str, Any]) -> None:
    first = seeded(installation)
    engine = installation["engine"]

    def counts() -> tuple[int, int, int]:
        with engine.connect() as connection:
            return (connection.scalar(select(func.count()).select_from(Subject)),
                    connection.scalar(select(func.count()).select_from(Service)),
                    connection.scalar(select(func.count()).select_from(Purpose)))

    before = counts()
    second = seeded(installation)
    assert second == first, "the same logins every time"
    assert counts() == before, "nothing is created twice"

    assert set(first) >= {"citizens", "services", "auditors"}
    assert len(first["citizens"]) >= 3
    for citizen in first["citizens"]:
        assert set(citizen) >= {"username", "password", "national_id"}
        assert egn.is_valid(citizen["national_id"]), citizen["national_id"]
    assert len({c["username"] for c in first["citizens"]}) == len(first["citizens"])
    assert len(first["services"]) >= 3
    for service in first["services"]:
        assert set(service) >= {"client_id", "redirect_uris", "purposes"}
        assert service["purposes"] and service["redirect_uris"]
        if service["client_id"] == "kindergartens-fapi":
            # The FAPI-grade demo service: private_key_jwt, its key under var/, no secret.
            assert "client_secret" not in service
            assert Path(service["private_key_file"]).is_relative_to(
                installation["var_dir"].resolve())
        else:
            assert service["client_secret"]
    assert "kindergartens-fapi" in {service["client_id"] for service in first["services"]}
    assert len(first["auditors"]) == 1
    assert set(first["auditors"][0]) >= {"client_id", "client_secret"}


# --- service add ------------------------------------------------------------------------------

def test_service_add_prints_credentials_and_stores_the_secret_hashed(
        installation: dict[str, Any]) -> None:
    seeded(installation)
    out = ok_json(invoke(installation["env"], "service", "add", "--name", "X",
                         "--redirect-uri", "https://x.example/cb",
                         "--purpose", "kindergarten_enrolment", "--json"))
    client_id, secret = out["client_id"], out["client_secret"]
    assert client_id and len(secret) >= 32
    assert out["redirect_uris"] == ["https://x.example/cb"]
    assert out["purposes"] == ["kindergarten_enrolment"]

    with installation["engine"].connect() as connection:
        row = connection.execute(select(Service.__table__).where(Service.client_id == client_id)
                                 ).mappings().one()
        dump = json.dumps({key: value.hex() if isinstance(value, bytes) else str(value)
                           for key, value in row.items()})
    assert bytes(row["client_secret_hash"]) == token_hash(secret)
    assert secret not in dump and secret.encode().hex() not in dump
    if installation["backend"] == "sqlite":
        database = Path(installation["database_url"].removeprefix("sqlite:///"))
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                assert secret.encode() not in path.read_bytes(), path.name


def test_service_add_accepts_a_loopback_http_redirect(installation: dict[str, Any]) -> None:
    seeded(installation)
    out = ok_json(invoke(installation["env"], "service", "add", "--name", "Local",
                         "--redirect-uri", "http://127.0.0.1:9100/cb",
                         "--purpose", "public_transport_card", "--sandbox", "--json"))
    assert out["sandbox"] is True and out["client_secret"]


@pytest.mark.parametrize(("args", "message"), [
    (["service", "add", "--name", "X", "--redirect-uri", "https://x.example/cb",
      "--purpose", "no_such_purpose", "--json"], "unknown purpose(s): no_such_purpose"),
    (["service", "add", "--name", "X", "--redirect-uri", "http://x.example/cb",
      "--purpose", "kindergarten_enrolment", "--json"], "must use https"),
    (["citizen", "add", "petar", "--national-id", INVALID_EGN, "--password-stdin"],
     "not a valid ЕГН"),
    (["citizen", "add", "petar", "--national-id", "80-01-01", "--password-stdin"],
     "not a valid ЕГН"),
    (["service", "add", "--name", "X", "--redirect-uri", "https://x.example/cb",
      "--purpose", "kindergarten_enrolment", "--client-id", '=HYPERLINK("x")', "--json"],
     "client id '=HYPERLINK(\"x\")': use 1 to 64 letters"),
    (["service", "add", "--name", "X", "--redirect-uri", "https://x.example/cb",
      "--purpose", "kindergarten_enrolment", "--client-id", "kinder:gartens", "--json"],
     "client id 'kinder:gartens': use 1 to 64 letters"),
], ids=["unknown-purpose", "http-redirect", "bad-egn-checksum", "bad-egn-format",
        "formula-client-id", "colon-client-id"])
def test_refusals_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    env = cli_env(tmp_path / "var")
    assert invoke(env, "db", "upgrade").exit_code == 0
    assert invoke(env, "demo", "seed", "--json").exit_code == 0
    done = run(env, *args, input="a long enough password\n")
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not done.stdout.strip(), "nothing that looks like a result on standard output"


# --- citizen add ------------------------------------------------------------------------------

def test_citizen_add_reads_the_password_from_stdin(installation: dict[str, Any]) -> None:
    password = "correct horse battery staple"
    result = invoke(installation["env"], "citizen", "add", "ivana", "--national-id", VALID_EGN,
                    "--password-stdin", "--locale", "en", "--json", input=password + "\n")
    out = ok_json(result)
    assert out["username"] == "ivana" and out["id"]
    assert password not in result.output and VALID_EGN not in result.output

    from sqlalchemy.orm import Session

    with Session(installation["engine"]) as session:
        subject = authenticate(session, "ivana", password)
        assert subject is not None and subject.locale == "en"
        assert VALID_EGN.encode() not in (subject.national_id_ciphertext or b"")
        assert authenticate(session, "ivana", "wrong password") is None

    again = invoke(installation["env"], "citizen", "add", "ivana", "--national-id", VALID_EGN,
                   "--password-stdin", input=password + "\n")
    assert again.exit_code != 0 and "taken" in again.output


# --- consents expire --------------------------------------------------------------------------

def test_consents_expire_reports_how_many(installation: dict[str, Any]) -> None:
    demo = seeded(installation)
    settings = load_settings(env={}, var_dir=installation["var_dir"],
                             database_url=installation["database_url"],
                             issuer="http://localhost")
    app = create_app({"settings": settings, "TESTING": True})
    try:
        client = app.test_client()
        tokens = Flow(client, demo["services"][0], demo["citizens"][2]).tokens()
        consent_id = tokens["consent_id"]
        broker = app.extensions["serdika"]
        expire_consent(broker, consent_id, ago=86400)

        assert ok_json(invoke(installation["env"], "consents", "expire", "--json")) == \
            {"expired": 1}
        assert ok_json(invoke(installation["env"], "consents", "expire", "--json")) == \
            {"expired": 0}, "an expired consent is recorded once"

        with broker.db.sessions() as session:
            assert session.get(Consent, consent_id).status == ConsentStatus.EXPIRED
        read = client.get("/api/v1/data/civil_registry/person",
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert read.status_code == 401 and read.get_json()["error"] == "invalid_token"
    finally:
        app.extensions["serdika"].db.dispose()


def test_consents_expire_without_json(installation: dict[str, Any]) -> None:
    result = invoke(installation["env"], "consents", "expire")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "expired: 0"


def test_demo_seed_if_new_leaves_a_database_with_its_own_data_alone(tmp_path):
    env = {"SERDIKA_VAR_DIR": str(tmp_path / "var")}
    runner_env = {**os.environ, **env}
    serdika = str(Path(sys.executable).with_name("serdika"))
    subprocess.run([serdika, "db", "upgrade"], env=runner_env, check=True, capture_output=True)
    added = subprocess.run(
        [serdika, "service", "add", "--name", "Своя услуга", "--redirect-uri",
         "https://own.example/cb", "--purpose", "kindergarten_enrolment", "--json"],
        env=runner_env, capture_output=True, text=True)
    # No purpose exists in an empty database, so registering fails clearly; add a citizen.
    assert added.returncode != 0
    citizen = subprocess.run(
        [serdika, "citizen", "add", "own", "--national-id", "8803144710", "--password-stdin"],
        input="a long enough password\n", env=runner_env, capture_output=True, text=True)
    assert citizen.returncode == 0, citizen.stderr
    skipped = subprocess.run([serdika, "demo", "seed", "--if-new", "--json"], env=runner_env,
                             capture_output=True, text=True)
    assert skipped.returncode == 0
    assert skipped.stdout == ""
    assert "no demo data" in skipped.stderr


def test_demo_seed_if_new_seeds_an_empty_database_and_repeats(tmp_path):
    runner_env = {**os.environ, "SERDIKA_VAR_DIR": str(tmp_path / "var")}
    serdika = str(Path(sys.executable).with_name("serdika"))
    subprocess.run([serdika, "db", "upgrade"], env=runner_env, check=True, capture_output=True)
    first = subprocess.run([serdika, "demo", "seed", "--if-new", "--json"], env=runner_env,
                           capture_output=True, text=True, check=True)
    again = subprocess.run([serdika, "demo", "seed", "--if-new", "--json"], env=runner_env,
                           capture_output=True, text=True, check=True)
    assert json.loads(first.stdout)["citizens"]
    assert first.stdout == again.stdout


def test_db_upgrade_says_what_it_did(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "var")
    created = run(env, "db", "upgrade")
    assert created.returncode == 0, created.stderr
    assert re.search(r"^database created \(revision \w+\)$", created.stderr, re.M), created.stderr
    again = run(env, "db", "upgrade")
    assert re.search(r"^database is up to date \(revision \w+\)$", again.stderr, re.M)


def test_demo_seed_names_the_services_redirect_uris(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "var")
    assert run(env, "db", "upgrade").returncode == 0
    done = run(env, "demo", "seed")
    assert done.returncode == 0, done.stderr
    service = next(line for line in done.stdout.splitlines() if "kindergartens" in line)
    assert ", http://127.0.0.1:9001/callback" in service, done.stdout
    assert "Demo auditors" in done.stdout
