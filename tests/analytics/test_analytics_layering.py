"""Records flow down: the actors hand them to analytics/ (rows, journal, store, metrics), so
analytics/ never imports the actor layer, the composition root or the gateway, and test data
stays out of the product package."""

from __future__ import annotations

import ast
from pathlib import Path

ANALYTICS = Path(__file__).resolve().parents[2] / "analytics"
ABOVE = ("actors", "evscallpro", "gateway")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_analytics_imports_nothing_above_it() -> None:
    modules = sorted(ANALYTICS.glob("*.py"))
    assert len(modules) > 5
    upward = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_modules(path)
        if name.split(".")[0] in ABOVE
    }
    assert upward == set()


def test_synthetic_test_data_is_not_in_the_product_package() -> None:
    assert not (ANALYTICS / "synthetic.py").exists()
