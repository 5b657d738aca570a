"""The example third-party package, installed through its entry point, passes the contract kit.

The package under ``examples/`` is installed into this interpreter's environment the way a city
would install a local company's connector (``pip install -e``), offline, once per session; the
registry then finds it through the ``serdika.connectors`` entry point, as the broker does.
"""

from __future__ import annotations

import fcntl
import importlib
import json
import site
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from datetime import datetime
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from packaging.version import Version

from connectors import registry
from connectors.base import ConnectorConfigError, SubjectRef
from connectors.contract import ConnectorContract

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "serdika-connector-sofia-libraries"
DISTRIBUTION = "serdika-connector-sofia-libraries"
KIND = "sofia_libraries"
MARIA = "8803144710"
GEORGI = "8511021862"


def _project() -> dict[str, Any]:
    with (EXAMPLE / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return project


def _installed_from_the_example() -> bool:
    importlib.invalidate_caches()
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        return False
    origin = json.loads(dist.read_text("direct_url.json") or "{}")
    return (
        origin.get("url") == EXAMPLE.as_uri()
        and origin.get("dir_info", {}).get("editable") is True
        and dist.version == _project()["version"]
    )


def _offline_build_problem() -> str | None:
    """Why setuptools in this environment cannot build the example without the network."""
    try:
        setuptools = Version(distribution("setuptools").version)
    except PackageNotFoundError:
        return "setuptools is not installed"
    # Before 70.1, setuptools builds wheels (editable ones too) with the separate wheel package.
    if setuptools < Version("70.1"):
        try:
            distribution("wheel")
        except PackageNotFoundError:
            return f"setuptools {setuptools} needs the wheel package, which is not installed"
    return None


@pytest.fixture(scope="session")
def installed_example() -> None:
    """Install the example package (editable, no network), unless this checkout's already is."""
    # One installer at a time per environment, whether pytest-xdist workers or parallel jobs.
    with (Path(sys.prefix) / ".serdika-example-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed_from_the_example():
            problem = _offline_build_problem()
            if problem:
                pytest.fail(
                    f"cannot install {DISTRIBUTION} offline: {problem}; "
                    "the dev extras must bring setuptools>=70.1",
                    pytrace=False,
                )
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--no-build-isolation",
                    "--no-index",
                    "--disable-pip-version-check",
                    "--root-user-action=ignore",
                    "--editable",
                    str(EXAMPLE),
                ],
                check=True,
                timeout=120,
            )
    # The install's .pth file puts the package's src/ on sys.path of interpreters started from
    # now on; this one has to read it again.
    site.addsitedir(sysconfig.get_path("purelib"))
    importlib.invalidate_caches()
    assert _installed_from_the_example()


@pytest.fixture
def register(installed_example: None, tmp_path: Path) -> Path:
    from serdika_sofia_libraries.register import demo_members, write_register

    path = tmp_path / "register.sqlite3"
    today = datetime.now(ZoneInfo("Europe/Sofia")).date()
    write_register(path, demo_members([MARIA, GEORGI], today))
    return path


def test_the_entry_point_names_the_connector_class(installed_example: None) -> None:
    (entry,) = [e for e in entry_points(group=registry.ENTRY_POINT_GROUP) if e.name == KIND]
    assert entry.value == _project()["entry-points"][registry.ENTRY_POINT_GROUP][KIND]
    assert entry.dist is not None and entry.dist.name == DISTRIBUTION


def test_the_registry_loads_it_through_the_entry_point(installed_example: None) -> None:
    from serdika_sofia_libraries import SofiaLibrariesConnector

    assert KIND not in registry.BUILTINS
    assert registry.factory(KIND) is SofiaLibrariesConnector
    assert registry.origin(KIND) == f"{DISTRIBUTION} {_project()['version']}"


def test_a_configured_instance_reads_its_register(register: Path) -> None:
    spec = registry.ConnectorSpec("libraries", KIND, {"path": str(register), "timeout": 1.5})
    connectors = registry.ConnectorRegistry.from_specs([spec])
    assert connectors.kinds == {"libraries": KIND}
    assert connectors.catalogue["libraries"].label_en == "Sofia municipal libraries"
    assert connectors["libraries"].health().ok
    membership = connectors["libraries"].fetch(SubjectRef(MARIA), "membership", ["card_number"])
    assert set(membership) == {"card_number"} and membership["card_number"].startswith("СБ-")


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({}, "connectors.libraries.path"),
        ({"path": "r.sqlite3", "timeout": -1}, "connectors.libraries.timeout"),
    ],
)
def test_bad_options_name_the_setting(
    installed_example: None, options: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ConnectorConfigError) as raised:
        registry.instantiate(registry.ConnectorSpec("libraries", KIND, options))
    assert raised.value.setting == setting


class TestExamplePackageContract(ConnectorContract):
    @pytest.fixture
    def connector(self, register: Path) -> Iterator[Any]:
        yield registry.factory(KIND)(path=str(register))

    @pytest.fixture
    def subject(self) -> SubjectRef:
        return SubjectRef(MARIA)

    @pytest.fixture
    def other_subject(self) -> SubjectRef:
        return SubjectRef(GEORGI)

    @pytest.fixture
    def unavailable_connector(self, installed_example: None, tmp_path: Path) -> Any:
        return registry.factory(KIND)(path=str(tmp_path / "gone" / "register.sqlite3"))
