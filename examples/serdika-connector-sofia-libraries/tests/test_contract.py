"""The Serdika contract kit against this connector, on a register written for the test."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from connectors.base import SubjectRef
from connectors.contract import ConnectorContract

from serdika_sofia_libraries import SofiaLibrariesConnector
from serdika_sofia_libraries.register import demo_members, write_register

MARIA = "8803144710"
GEORGI = "8511021862"


class TestSofiaLibrariesContract(ConnectorContract):
    @pytest.fixture
    def connector(self, tmp_path: Path) -> SofiaLibrariesConnector:
        register = tmp_path / "register.sqlite3"
        today = datetime.now(ZoneInfo("Europe/Sofia")).date()
        write_register(register, demo_members([MARIA, GEORGI], today))
        return SofiaLibrariesConnector(path=str(register))

    @pytest.fixture
    def subject(self) -> SubjectRef:
        return SubjectRef(MARIA)

    @pytest.fixture
    def other_subject(self) -> SubjectRef:
        return SubjectRef(GEORGI)

    @pytest.fixture
    def unavailable_connector(self, tmp_path: Path) -> SofiaLibrariesConnector:
        return SofiaLibrariesConnector(path=str(tmp_path / "no-such-register.sqlite3"))
