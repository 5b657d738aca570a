"""``serdika connectors list | check`` and a broker configured from a connectors file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker import create_app
from broker.config import ConfigError, load_settings
from connectors import civil_registry
from tests.functional.test_cli import cli_env, run

FILE = """
[connectors.registry]
kind = "civil_registry"
url = {{ env = "TEST_REGISTRY_URL" }}

[connectors.bankya]
kind = "csv_files"
directory = "{csv}"
label_bg = "Район Банкя"
label_en = "Bankya district"
[connectors.bankya.resources.permits]
file = "permits.csv"
label_bg = "Разрешения"
label_en = "Permits"
[connectors.bankya.resources.permits.fields.zone]
label_bg = "Зона"
label_en = "Zone"
dpv = "https://w3id.org/dpv/pd#Location"

[connectors.welfare]
kind = "http_json"
label_bg = "Социално подпомагане"
label_en = "Social assistance"
[connectors.welfare.auth]
type = "none"
[connectors.welfare.resources.benefits]
path = "/people/{{subject}}"
label_bg = "Помощи"
label_en = "Benefits"
[connectors.welfare.resources.benefits.fields.amount]
pointer = "/amount"
label_bg = "Сума"
label_en = "Amount"
dpv = "https://w3id.org/dpv/pd#Income"

[connectors.library]
kind = "no_such_kind"
"""


@pytest.fixture
def configured(tmp_path: Path) -> dict[str, str | None]:
    registry_db = tmp_path / "registry.sqlite3"
    from sqlalchemy import create_engine

    civil_registry.create_schema(create_engine(f"sqlite:///{registry_db}"))
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "permits.csv").write_text("national_id,zone\n8803144710,A\n",
                                                  encoding="utf-8")
    path = tmp_path / "connectors.toml"
    path.write_text(FILE.format(csv=tmp_path / "csv"), encoding="utf-8")
    env = cli_env(tmp_path / "var")
    env.update(SERDIKA_CONNECTORS_FILE=str(path), TEST_REGISTRY_URL=f"sqlite:///{registry_db}")
    return env


def test_check_names_what_fails_and_exits_1(configured):
    result = run(configured, "connectors", "check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[2:]}
    assert set(lines) == {"registry", "bankya", "welfare", "library"}
    assert " ok " in lines["registry"] and " ok " in lines["bankya"]
    assert "FAIL" in lines["welfare"] and "connectors.welfare.base_url" in lines["welfare"]
    assert "FAIL" in lines["library"] and "connectors.library.kind" in lines["library"]


def test_check_reports_a_source_that_does_not_answer(configured, tmp_path):
    (tmp_path / "csv" / "permits.csv").unlink()
    result = run(configured, "connectors", "check", "--json")
    checks = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert checks["bankya"]["ok"] is False
    assert "permits.csv" in checks["bankya"]["detail"]
    assert checks["registry"]["ok"] is True


def test_list_shows_kind_origin_and_resources(configured):
    result = run(configured, "connectors", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert listed["registry"]["origin"] == "built-in"
    assert listed["registry"]["resources"] == ["children", "household", "person", "wards"]
    assert listed["bankya"]["source"] == "Bankya district"
    assert "connectors.welfare.base_url" in listed["welfare"]["error"]
    table = run(configured, "connectors", "list")
    assert table.stdout.splitlines()[0].split() == ["NAME", "KIND", "ORIGIN", "SOURCE",
                                                    "RESOURCES"]


def test_a_secret_in_plain_text_is_refused_by_name(configured, tmp_path):
    path = Path(configured["SERDIKA_CONNECTORS_FILE"])
    path.write_text(path.read_text(encoding="utf-8").replace(
        '[connectors.welfare.auth]\ntype = "none"',
        '[connectors.welfare.auth]\ntype = "api_key"\nkey = "written-in-the-file"'),
        encoding="utf-8")
    result = run(configured, "connectors", "check")
    assert "connectors.welfare.auth.key" in result.stdout
    assert "written-in-the-file" not in result.stdout + result.stderr


def test_a_broken_file_is_one_clear_error(configured):
    Path(configured["SERDIKA_CONNECTORS_FILE"]).write_text("[connectors.x\n", encoding="utf-8")
    result = run(configured, "connectors", "check")
    assert result.returncode != 0
    assert "SERDIKA_CONNECTORS_FILE" in result.stderr and "Traceback" not in result.stderr


def test_the_broker_does_not_start_with_a_misconfigured_connector(configured, monkeypatch):
    monkeypatch.setenv("TEST_REGISTRY_URL", configured["TEST_REGISTRY_URL"])
    settings = load_settings(env={key: value for key, value in configured.items()
                                  if value is not None})
    with pytest.raises(ConfigError) as refused:
        create_app({"settings": settings})
    assert "connectors.welfare.base_url" in str(refused.value)
