"""Which connectors this broker runs: the operator's TOML file, or the demo's sources.

Without a connectors file (development only, see :mod:`broker.config`), the broker runs the
demo sources of ``serdika demo seed``: the civil registry, the local tax office and the meter
readings in its own database, the Bankya district's CSV files under ``var/sources/``, and the
Social Assistance Agency played by the sandbox upstream (:mod:`broker.sandbox`).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from broker.config import ConfigError, Settings
from connectors.base import ConnectorConfigError
from connectors.registry import ConnectorRegistry, ConnectorSpec, load_config_file

SANDBOX_CONNECTOR = "social_assistance"
CSV_CONNECTOR = "bankya"


def sandbox_api_key(secret_key: str) -> str:
    """The demo upstream's API key: derived from the installation's secret, never stored."""
    return hmac.new(secret_key.encode(), b"sandbox-api-key", hashlib.sha256).hexdigest()


def csv_directory(settings: Settings) -> Path:
    return settings.var_dir / "sources" / CSV_CONNECTOR


def demo_specs(settings: Settings, secret_key: str) -> list[ConnectorSpec]:
    """The demo's sources, as if written in a connectors file."""
    from broker.sandbox import demo_connector_options
    from connectors.csv_files import demo_options

    civil_registry: dict[str, Any] = {}
    if settings.civil_registry_url and settings.civil_registry_url != settings.database_url:
        civil_registry["url"] = settings.civil_registry_url
    return [
        ConnectorSpec("civil_registry", "civil_registry", civil_registry, from_file=False),
        ConnectorSpec("local_taxes", "local_taxes", {}, from_file=False),
        ConnectorSpec("meter_readings", "meter_readings", {}, from_file=False),
        ConnectorSpec(CSV_CONNECTOR, "csv_files", demo_options(csv_directory(settings)),
                      from_file=False),
        ConnectorSpec(
            SANDBOX_CONNECTOR,
            "http_json",
            demo_connector_options(settings.sandbox_url, sandbox_api_key(secret_key)),
            from_file=False,
        ),
    ]


def start_demo_sandbox(settings: Settings, secret_key: str, *, port: int | None = None) -> Any:
    """Start the demo's Social Assistance Agency (development only), answering the demo people.

    ``port`` None takes the one of ``settings.sandbox_url``; 0 picks a free one.
    """
    from broker.demo import demo_people
    from broker.sandbox import SandboxUpstream, demo_benefits
    from connectors.limits import city_zone

    if port is None:
        port = urlsplit(settings.sandbox_url).port or 80
    today = datetime.now(city_zone()).date()
    return SandboxUpstream(demo_benefits(demo_people(), today), sandbox_api_key(secret_key),
                           port=port).start()


def connector_specs(settings: Settings, secret_key: str) -> list[ConnectorSpec]:
    if settings.connectors_file is None:
        return demo_specs(settings, secret_key)
    return load_config_file(settings.connectors_file)


def build_connectors(settings: Settings, secret_key: str, engine: Any) -> ConnectorRegistry:
    """Build every configured connector, or fail naming the setting to fix."""
    try:
        return ConnectorRegistry.from_specs(connector_specs(settings, secret_key), engine=engine)
    except ConnectorConfigError as exc:
        raise ConfigError(f"connector configuration: {exc} "
                          "(`serdika connectors check` lists every problem)") from exc
