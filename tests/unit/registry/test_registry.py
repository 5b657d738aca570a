"""The connector registry: TOML instances, secrets from the environment or files, factories."""

from __future__ import annotations

import pytest

from connectors.base import ConnectorConfigError
from connectors.registry import (
    BUILTINS,
    ConnectorRegistry,
    ConnectorSpec,
    factory,
    instantiate,
    load_config_file,
    parse_config,
    resolve_secrets,
)


def test_secrets_come_from_the_environment_or_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n", encoding="utf-8")
    options = {"url": {"env": "TAXES_URL"}, "timeout": 2.0,
               "auth": {"type": "api_key", "key": {"file": str(secret_file)}}}
    resolved = resolve_secrets(options, env={"TAXES_URL": "sqlite:///taxes.db"})
    assert resolved == {"url": "sqlite:///taxes.db", "timeout": 2.0,
                        "auth": {"type": "api_key", "key": "from-a-file"}}


@pytest.mark.parametrize(("options", "setting"), [
    ({"auth": {"client_secret": "hunter2"}}, "auth.client_secret"),
    ({"api_key": "abc"}, "api_key"),
    ({"password": "abc"}, "password"),
    ({"token": "abc"}, "token"),
    ({"url": "postgresql://svc:hunter2@db/taxes"}, "url"),
])
def test_a_secret_written_in_plain_text_is_refused_by_name(options, setting):
    with pytest.raises(ConnectorConfigError) as refused:
        resolve_secrets(options, env={})
    assert refused.value.setting == setting
    assert "hunter2" not in str(refused.value)


def test_plain_options_that_only_look_alike_are_kept():
    options = {"key_column": "national_id", "header": "X-API-Key",
               "url": "postgresql://svc@db/taxes"}
    assert resolve_secrets(options, env={}) == options


def test_missing_environment_variable_and_unreadable_file_name_the_setting(tmp_path):
    with pytest.raises(ConnectorConfigError) as missing:
        resolve_secrets({"auth": {"key": {"env": "NOT_SET_ANYWHERE"}}}, env={})
    assert missing.value.setting == "auth.key"
    assert "NOT_SET_ANYWHERE" in str(missing.value)
    with pytest.raises(ConnectorConfigError) as unreadable:
        resolve_secrets({"key": {"file": str(tmp_path / "absent")}}, env={})
    assert unreadable.value.setting == "key"


def test_the_config_file_lists_instances_with_their_kind(tmp_path):
    path = tmp_path / "connectors.toml"
    path.write_text("""
[connectors.civil_registry]
url = { env = "REGISTRY_URL" }

[connectors.taxes]
kind = "local_taxes"
timeout = 2

[connectors.old]
kind = "csv_files"
enabled = false
""", encoding="utf-8")
    specs = load_config_file(path)
    assert specs == [ConnectorSpec("civil_registry", "civil_registry",
                                   {"url": {"env": "REGISTRY_URL"}}),
                     ConnectorSpec("taxes", "local_taxes", {"timeout": 2})]


def test_a_broken_config_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "connectors.toml"
    path.write_text("[connectors.taxes\nkind = 1\n", encoding="utf-8")
    with pytest.raises(ConnectorConfigError) as broken:
        load_config_file(path)
    assert str(path) in str(broken.value) and "line 1" in str(broken.value)
    with pytest.raises(ConnectorConfigError):
        load_config_file(tmp_path / "absent.toml")
    with pytest.raises(ConnectorConfigError) as bad_name:
        parse_config({"connectors": {"Taxes": {}}})
    assert bad_name.value.setting == "connectors.Taxes"
    with pytest.raises(ConnectorConfigError) as bad_kind:
        parse_config({"connectors": {"taxes": {"kind": 3}}})
    assert bad_kind.value.setting == "connectors.taxes.kind"


def test_unknown_kind_and_unexpected_options_name_the_instance():
    with pytest.raises(ConnectorConfigError) as unknown:
        instantiate(ConnectorSpec("taxes", "no_such_connector"))
    assert unknown.value.setting == "connectors.taxes.kind"
    with pytest.raises(ConnectorConfigError) as unexpected:
        instantiate(ConnectorSpec("registry", "civil_registry",
                                  {"url": "sqlite://", "colour": "blue"}))
    assert unexpected.value.setting == "connectors.registry"
    assert "colour" in str(unexpected.value)


def test_a_connectors_own_config_error_is_prefixed_with_the_instance():
    with pytest.raises(ConnectorConfigError) as missing:
        instantiate(ConnectorSpec("registry", "civil_registry", {}))
    assert missing.value.setting == "connectors.registry.url"


def test_sql_sources_use_the_brokers_engine_without_a_url(tmp_path):
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'broker.sqlite3'}")
    registry = ConnectorRegistry.from_specs(
        [ConnectorSpec("registry", "civil_registry", {})], engine=engine)
    assert registry["registry"].engine is engine
    assert set(registry.catalogue) == {"registry"}
    assert registry.kinds == {"registry": "civil_registry"}


def test_every_builtin_is_found_by_name():
    assert set(BUILTINS) == {"civil_registry", "local_taxes", "meter_readings", "http_json",
                             "csv_files"}
    for kind in BUILTINS:
        assert factory(kind) is BUILTINS[kind]
