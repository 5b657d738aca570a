"""Which connectors this broker runs: the operator's TOML file, or the demo's sources.

Without a connectors file (development only, see :mod:`broker.config`), the broker runs the
demo sources of ``serdika demo seed`` (:mod:`demo.sources`), handing them plain values from
its settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.config import ConfigError, Settings
from connectors.base import ConnectorConfigError
from connectors.registry import ConnectorRegistry, ConnectorSpec, load_config_file


def connector_specs(settings: Settings, secret_key: str) -> list[ConnectorSpec]:
    """The connectors file's instances; without one, the demo's, given plain values."""
    if settings.connectors_file is not None:
        return load_config_file(settings.connectors_file)
    from demo.sources import demo_specs  # the demo (and Faker) only where it runs

    civil_registry_url = settings.civil_registry_url
    if civil_registry_url == settings.database_url:
        civil_registry_url = None
    return demo_specs(
        var_dir=settings.var_dir,
        secret_key=secret_key,
        upstream_url=settings.sandbox_url,
        civil_registry_url=civil_registry_url,
    )


def demo_sources(settings: Settings, connectors: ConnectorRegistry) -> Mapping[str, Any] | None:
    """The connectors the demo seed may fill: the demo's own, none when a file names real ones."""
    return connectors if settings.connectors_file is None else None


def build_connectors(settings: Settings, secret_key: str, engine: Any) -> ConnectorRegistry:
    """Build every configured connector, or fail naming the setting to fix."""
    try:
        return ConnectorRegistry.from_specs(connector_specs(settings, secret_key), engine=engine)
    except ConnectorConfigError as exc:
        raise ConfigError(
            f"connector configuration: {exc} (`serdika connectors check` lists every problem)"
        ) from exc
