"""The demo's data sources, as if written in a connectors file, and its upstream agency.

Without a connectors file (development only), the broker runs these: the civil registry, the
local tax office and the meter readings in its own database, the Bankya district's CSV files
under ``var/sources/``, and the Social Assistance Agency that :func:`start_upstream` serves on
loopback. The broker hands over plain values (its var directory, its secret, the agency's URL);
nothing here reads the broker's settings.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from commons.clock import city_zone
from connectors.registry import ConnectorSpec
from demo.bankya import demo_options
from demo.people import demo_people
from demo.social_assistance import demo_benefits, demo_connector_options
from demo.upstream import SocialAssistanceUpstream

SOCIAL_ASSISTANCE = "social_assistance"
BANKYA = "bankya"


def upstream_api_key(secret_key: str) -> str:
    """The demo upstream's API key: derived from the installation's secret, never stored."""
    # The label predates the upstream's rename; changing it would change every derived key.
    return hmac.new(secret_key.encode(), b"sandbox-api-key", hashlib.sha256).hexdigest()


def csv_directory(var_dir: Path) -> Path:
    """Where the Bankya district's CSV files live under the installation's var directory."""
    return var_dir / "sources" / BANKYA


def demo_specs(
    *, var_dir: Path, secret_key: str, upstream_url: str, civil_registry_url: str | None = None
) -> list[ConnectorSpec]:
    """The demo's sources; without ``civil_registry_url`` the registry is in the broker's."""
    civil_registry: dict[str, Any] = {}
    if civil_registry_url:
        civil_registry["url"] = civil_registry_url
    return [
        ConnectorSpec("civil_registry", "civil_registry", civil_registry, from_file=False),
        ConnectorSpec("local_taxes", "local_taxes", {}, from_file=False),
        ConnectorSpec("meter_readings", "meter_readings", {}, from_file=False),
        ConnectorSpec(BANKYA, "csv_files", demo_options(csv_directory(var_dir)), from_file=False),
        ConnectorSpec(
            SOCIAL_ASSISTANCE,
            "http_json",
            demo_connector_options(upstream_url, upstream_api_key(secret_key)),
            from_file=False,
        ),
    ]


def start_upstream(
    upstream_url: str, secret_key: str, *, port: int | None = None
) -> SocialAssistanceUpstream:
    """Start the demo's Social Assistance Agency (development only), answering the demo people.

    ``port`` None takes the one of ``upstream_url``; 0 picks a free one.
    """
    if port is None:
        port = urlsplit(upstream_url).port or 80
    today = datetime.now(city_zone()).date()
    return SocialAssistanceUpstream(
        demo_benefits(demo_people(), today), upstream_api_key(secret_key), port=port
    ).start()
