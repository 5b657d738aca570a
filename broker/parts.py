"""The parts of one broker, built once per app, and the typed way to reach them in a request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from broker.config import Settings
from broker.db import Database
from broker.guardians import Guardians
from broker.keys import Keys
from broker.own_data import OwnDataReader
from connectors.registry import ConnectorRegistry
from consent.access_ports import ReadPorts
from consent.lifecycle import DomainContext

EXTENSION = "serdika"


@dataclass
class Broker:
    """One broker's parts, built once per app and handed to the views."""

    settings: Settings
    db: Database
    keys: Keys
    connectors: ConnectorRegistry
    domain: DomainContext
    #: Reads what the sources hold about the signed-in citizen (the wallet's "My data").
    own_data: OwnDataReader
    #: A citizen's minor children, read from the registry (consent.guardianship).
    guardians: Guardians
    #: The data read's ports over the prepared hot-path statements (consent.access).
    reads: ReadPorts


def current_broker() -> Broker:
    """The broker of the app handling the current request or CLI command."""
    broker: Broker = current_app.extensions[EXTENSION]
    return broker
