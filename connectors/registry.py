"""Connector instances by name: built-ins, third-party ones from entry points, and their config.

A broker's connectors are configured in a TOML file, one table per instance::

    [connectors.taxes]
    kind = "local_taxes"                  # a built-in, or an entry point of "serdika.connectors"
    url = { env = "SERDIKA_TAXES_DB_URL" } # a secret: from the environment ...
    [connectors.taxes.auth]
    client_secret = { file = "/run/secrets/taxes" }   # ... or from a file

Every key but ``kind`` (which defaults to the instance's name) and ``enabled`` is passed to the
connector's constructor as a keyword argument. Secrets are never written in the file itself:
an option whose name ends in ``secret``, ``password``, ``key`` or ``token`` must be an
``{env = ...}`` or ``{file = ...}`` reference, and so must a URL that carries a password.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.base import Connector, ConnectorConfigError, ConnectorDescription

ENTRY_POINT_GROUP = "serdika.connectors"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
_SECRET_OPTION = re.compile(r"(^|_)(secret|password|passwd|key|token)\Z")
_MAX_SECRET_FILE = 64 * 1024


def _civil_registry(**options: Any) -> Connector:
    from connectors.civil_registry import CivilRegistryConnector

    return CivilRegistryConnector(**options)


def _local_taxes(**options: Any) -> Connector:
    from connectors.local_taxes import LocalTaxesConnector

    return LocalTaxesConnector(**options)


def _meter_readings(**options: Any) -> Connector:
    from connectors.meter_readings import MeterReadingsConnector

    return MeterReadingsConnector(**options)


def _http_json(**options: Any) -> Connector:
    from connectors.http_json import HttpJsonConnector

    return HttpJsonConnector(**options)


def _csv_files(**options: Any) -> Connector:
    from connectors.csv_files import CsvFilesConnector

    return CsvFilesConnector(**options)


# SQL sources read the broker's own database when their config names no ``url``.
for _sql_factory in (_civil_registry, _local_taxes, _meter_readings):
    _sql_factory.accepts_engine = True  # type: ignore[attr-defined]

BUILTINS: dict[str, Callable[..., Connector]] = {
    "civil_registry": _civil_registry,
    "local_taxes": _local_taxes,
    "meter_readings": _meter_readings,
    "http_json": _http_json,
    "csv_files": _csv_files,
}


class UnknownConnector(LookupError):
    pass


def factory(kind: str) -> Callable[..., Connector]:
    """Return the constructor of connector ``kind``: a built-in, else an entry point."""
    if kind in BUILTINS:
        return BUILTINS[kind]
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == kind:
            loaded: Callable[..., Connector] = entry.load()
            return loaded
    raise UnknownConnector(f"no connector of kind {kind!r}")


def origin(kind: str) -> str:
    """Where connector ``kind`` comes from: ``built-in`` or the distribution that provides it."""
    if kind in BUILTINS:
        return "built-in"
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == kind:
            dist = entry.dist
            return f"{dist.name} {dist.version}" if dist is not None else entry.value
    return "unknown"


@dataclass(frozen=True)
class ConnectorSpec:
    """One configured instance: its name, its kind and its options (secrets still unresolved)."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    #: False for options built in code (the demo's), whose secrets are derived in memory and
    #: so may be plain values; options read from a file must reference their secrets.
    from_file: bool = True


def parse_config(data: Mapping[str, Any], *, source: str = "configuration") -> list[ConnectorSpec]:
    """Read the ``[connectors.*]`` tables of a parsed TOML document."""
    tables = data.get("connectors", {})
    if not isinstance(tables, Mapping):
        raise ConnectorConfigError("connectors", f"{source} must hold [connectors.<name>] tables")
    specs = []
    for name, table in tables.items():
        if not _NAME.match(name):
            raise ConnectorConfigError(
                f"connectors.{name}", "an instance name is lower-case letters, digits and _"
            )
        if not isinstance(table, Mapping):
            raise ConnectorConfigError(f"connectors.{name}", "must be a table")
        options = {key: value for key, value in table.items() if key not in ("kind", "enabled")}
        kind = table.get("kind", name)
        if not isinstance(kind, str):
            raise ConnectorConfigError(f"connectors.{name}.kind", "must be a string")
        if table.get("enabled", True) is not False:
            specs.append(ConnectorSpec(name, kind, options))
    return specs


def load_config_file(path: Path) -> list[ConnectorSpec]:
    """Read a connectors TOML file; errors name the file and the line."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError as exc:
        raise ConnectorConfigError("SERDIKA_CONNECTORS_FILE", f"{path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConnectorConfigError("SERDIKA_CONNECTORS_FILE", f"{path}: {exc}") from exc
    return parse_config(data, source=str(path))


def resolve_secrets(
    options: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    path: str = "",
    plain_secrets: bool = False,
) -> dict[str, Any]:
    """Replace ``{env = ...}`` and ``{file = ...}`` references by their values.

    Refuse a secret written as plain text, naming the option, so it cannot sit in the file.
    """
    env = os.environ if env is None else env
    resolved: dict[str, Any] = {}
    for key, value in options.items():
        where = f"{path}{key}"
        if _is_reference(value):
            resolved[key] = _dereference(value, where, env)
        elif isinstance(value, Mapping):
            resolved[key] = resolve_secrets(
                value, env=env, path=f"{where}.", plain_secrets=plain_secrets
            )
        else:
            if (
                not plain_secrets
                and isinstance(value, str)
                and (_SECRET_OPTION.search(key) or _url_with_password(value))
            ):
                raise ConnectorConfigError(
                    where,
                    'a secret must come from {env = "NAME"} or {file = "/path"}, '
                    "not be written in the configuration",
                )
            resolved[key] = value
    return resolved


def _is_reference(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in ("env", "file")


def _dereference(reference: Mapping[str, Any], where: str, env: Mapping[str, str]) -> str:
    ((how, target),) = reference.items()
    if not isinstance(target, str) or not target:
        raise ConnectorConfigError(where, f"'{how}' must name a variable or a file")
    if how == "env":
        value = env.get(target)
        if value is None:
            raise ConnectorConfigError(where, f"environment variable {target} is not set")
        return value
    secret_path = Path(target)
    try:
        with secret_path.open("rb") as file:
            content = file.read(_MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ConnectorConfigError(where, f"cannot read {secret_path}: {exc.strerror}") from exc
    if len(content) > _MAX_SECRET_FILE:
        raise ConnectorConfigError(where, f"{secret_path} is too large for a secret")
    try:
        return content.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConnectorConfigError(where, f"{secret_path} is not UTF-8 text") from exc


def _url_with_password(value: str) -> bool:
    if "://" not in value:
        return False
    try:
        return bool(urlsplit(value).password)
    except ValueError:
        return False


def instantiate(
    spec: ConnectorSpec, *, engine: Any = None, env: Mapping[str, str] | None = None
) -> Connector:
    """Build one configured connector; every failure is a :class:`ConnectorConfigError`."""
    prefix = f"connectors.{spec.name}."
    try:
        make = factory(spec.kind)
    except UnknownConnector as exc:
        raise ConnectorConfigError(
            f"{prefix}kind",
            f"no built-in connector or installed entry point named {spec.kind!r}",
        ) from exc
    except Exception as exc:  # a broken third-party package must not stop the broker's CLI
        raise ConnectorConfigError(f"{prefix}kind", f"cannot load {spec.kind!r}: {exc}") from exc
    try:
        options = resolve_secrets(spec.options, env=env, plain_secrets=not spec.from_file)
    except ConnectorConfigError as exc:
        raise ConnectorConfigError(prefix + exc.setting, _message(exc)) from exc
    if getattr(make, "accepts_engine", False) and "url" not in options and engine is not None:
        options["engine"] = engine
    try:
        connector = make(**options)
    except ConnectorConfigError as exc:
        raise ConnectorConfigError(prefix + exc.setting, _message(exc)) from exc
    except TypeError as exc:
        raise ConnectorConfigError(prefix.rstrip("."), f"unexpected options: {exc}") from exc
    if not isinstance(connector, Connector):
        raise ConnectorConfigError(
            f"{prefix}kind", f"{spec.kind!r} does not build a Connector (describe/fetch/health)"
        )
    return connector


def _message(error: ConnectorConfigError) -> str:
    return str(error).removeprefix(f"{error.setting}: ")


class ConnectorRegistry(Mapping[str, Connector]):
    """The configured connectors of one broker, by name, with their descriptions cached.

    The catalogue is keyed by the instance's name (what services ask for in
    ``authorization_details``), whatever name the connector gives itself.
    """

    def __init__(self, connectors: Mapping[str, Connector] | None = None) -> None:
        self._connectors: dict[str, Connector] = {}
        self._catalogue: dict[str, ConnectorDescription] = {}
        self.kinds: dict[str, str] = {}
        for name, connector in (connectors or {}).items():
            self.add(name, connector)

    def add(self, name: str, connector: Connector, kind: str | None = None) -> None:
        self._connectors[name] = connector
        self._catalogue[name] = connector.describe()
        self.kinds[name] = kind or connector.name

    @classmethod
    def from_specs(
        cls,
        specs: list[ConnectorSpec],
        *,
        engine: Any = None,
        env: Mapping[str, str] | None = None,
    ) -> ConnectorRegistry:
        registry = cls()
        for spec in specs:
            registry.add(spec.name, instantiate(spec, engine=engine, env=env), spec.kind)
        return registry

    @property
    def catalogue(self) -> Mapping[str, ConnectorDescription]:
        return self._catalogue

    def __getitem__(self, name: str) -> Connector:
        return self._connectors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._connectors)

    def __len__(self) -> int:
        return len(self._connectors)
