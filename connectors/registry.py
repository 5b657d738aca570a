"""Connector instances by name: built-ins, and third-party ones from entry points."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

from connectors.base import Connector, ConnectorDescription

ENTRY_POINT_GROUP = "serdika.connectors"


def _civil_registry(**options: Any) -> Connector:
    from connectors.civil_registry import CivilRegistryConnector

    return CivilRegistryConnector(**options)


BUILTINS: dict[str, Callable[..., Connector]] = {"civil_registry": _civil_registry}


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


class ConnectorRegistry(Mapping[str, Connector]):
    """The configured connectors of one broker, by name, with their descriptions cached."""

    def __init__(self, connectors: Mapping[str, Connector] | None = None) -> None:
        self._connectors: dict[str, Connector] = dict(connectors or {})
        self._catalogue: dict[str, ConnectorDescription] = {
            name: connector.describe() for name, connector in self._connectors.items()
        }

    def add(self, name: str, connector: Connector) -> None:
        self._connectors[name] = connector
        self._catalogue[name] = connector.describe()

    @property
    def catalogue(self) -> Mapping[str, ConnectorDescription]:
        return self._catalogue

    def __getitem__(self, name: str) -> Connector:
        return self._connectors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._connectors)

    def __len__(self) -> int:
        return len(self._connectors)
