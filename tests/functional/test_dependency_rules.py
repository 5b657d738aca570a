"""docs/architecture.md, "The layers": the domain and the connectors know no web and no broker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("flask", "werkzeug", "broker", "wallet_ui")
PACKAGES = ("consent", "connectors")


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module ``path`` imports, absolute, with its line (relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(root).with_suffix("").parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join((*base, node.module) if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found.extend((node.lineno, f"{name}.{alias.name}".lstrip("."))
                         for alias in node.names)
        elif (isinstance(node, ast.Call)
              and getattr(node.func, "id", getattr(node.func, "attr", None))
              in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def _violations(path: Path, root: Path = ROOT) -> list[str]:
    return [f"{path.relative_to(root)}:{line} imports {name}"
            for line, name in _imports(path, root)
            if name.split(".")[0] in FORBIDDEN]


MODULES = sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_the_packages_exist():
    names = {path.relative_to(ROOT).as_posix() for path in MODULES}
    assert {"consent/decisions.py", "consent/lifecycle.py", "connectors/base.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_web_or_broker_imports(path):
    assert _violations(path) == []


def test_the_checker_sees_every_kind_of_import(tmp_path):
    probe = tmp_path / "consent" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "import flask\n"
        "from werkzeug.exceptions import NotFound\n"
        "def f():\n"
        "    from broker.app import create_app\n"
        "    import importlib\n"
        "    importlib.import_module('wallet_ui.views')\n"
        "from .. import broker\n"
        "import consent.models, os\n"
        "from . import ledger\n"
    )
    problems = _violations(probe, tmp_path)
    lines = sorted({int(p.split(":")[1].split()[0]) for p in problems})
    assert lines == [1, 2, 4, 6, 7], problems


# The layers of the house: commons < connectors < consent < demo | wallet_ui < broker.
PROJECT = ("broker", "commons", "connectors", "consent", "demo", "wallet_ui")
LOWER_RULES = {
    # The neutral lowest package imports no other project package, and no web.
    "commons": (*(name for name in PROJECT if name != "commons"), "flask", "werkzeug"),
    # Adapters never reach into the domain or the demo that fills them.
    "connectors": ("consent", "demo"),
    # The demo is given plain values: it never imports the broker, the wallet or the web.
    "demo": FORBIDDEN,
}


def _layer_violations(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {name}"
            for line, name in _imports(path)
            if name.split(".")[0] in forbidden]


LAYERED = sorted((path, package) for package in LOWER_RULES
                 for path in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(("path", "package"), LAYERED,
                         ids=[p.relative_to(ROOT).as_posix() for p, _ in LAYERED])
def test_lower_layers_import_no_higher_one(path, package):
    assert _layer_violations(path, LOWER_RULES[package]) == []
