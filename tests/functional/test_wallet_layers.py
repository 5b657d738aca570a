"""The wallet's layering: it never imports the broker, and no import circles in the wallet or in
the citizen-side domain modules it drives (a deferred import counts as well)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.test_dependency_rules import ROOT, _imports

WALLET = sorted((ROOT / "wallet_ui").rglob("*.py"))
#: The domain modules the wallet drives (consent.receipts, ledger... are checked elsewhere).
CITIZEN_SIDE = (
    "account_erasure",
    "accounts",
    "answers",
    "citizen_actions",
    "citizen_consents",
    "erasure_requests",
    "guardianship",
    "history",
    "lifecycle",
    "notifications",
    "receipt_downloads",
    "wards",
)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph(paths: list[Path]) -> dict[str, set[str]]:
    names = {_module(path): path for path in paths}
    return {
        name: {
            imported for _line, imported in _imports(path) if imported in names and imported != name
        }
        for name, path in names.items()
    }


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle, as the modules on it (a depth-first search for back edges)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        trail.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                found.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target)
        trail.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    return found


@pytest.mark.parametrize("path", WALLET, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_wallet_never_imports_the_broker(path):
    assert [name for _line, name in _imports(path) if name.split(".")[0] == "broker"] == []


def test_no_import_circle_in_the_wallet():
    # The package's __init__ only re-exports its public parts; nothing imports it back.
    graph = _graph([path for path in WALLET if path.name != "__init__.py"])
    assert _circles(graph) == []


def test_no_import_circle_in_the_citizen_side_of_the_domain():
    paths = [ROOT / "consent" / f"{name}.py" for name in CITIZEN_SIDE]
    assert _circles(_graph(paths)) == []


def test_the_circle_finder_sees_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _circles({"a": {"b"}, "b": set()}) == []
