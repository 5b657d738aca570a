"""Options are checked when the broker builds the connector, naming the one to fix."""

from __future__ import annotations

import pytest
from connectors.base import ConnectorConfigError

from serdika_sofia_libraries import SofiaLibrariesConnector


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({}, "path"),
        ({"path": ""}, "path"),
        ({"path": 42}, "path"),
        ({"path": "register.sqlite3", "timeout": "2"}, "timeout"),
        ({"path": "register.sqlite3", "timeout": True}, "timeout"),
        ({"path": "register.sqlite3", "timeout": 0}, "timeout"),
        ({"path": "register.sqlite3", "timeout": 31}, "timeout"),
    ],
)
def test_a_bad_option_is_named(options, setting):
    with pytest.raises(ConnectorConfigError) as raised:
        SofiaLibrariesConnector(**options)
    assert raised.value.setting == setting


def test_the_register_is_not_touched_when_configured(tmp_path):
    SofiaLibrariesConnector(path=str(tmp_path / "register.sqlite3"), timeout=0.5)
    assert list(tmp_path.iterdir()) == []
