"""core/ does no I/O: no module of it imports a transport, a thread, a clock-driven loop,
a file reader or the environment (ARCHITECTURE.md). Settings files are read in evscallpro/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"
FORBIDDEN = {
    "aiohttp", "aioari", "asyncio", "duckdb", "nats", "os", "pathlib", "prometheus_client",
    "pykka", "socket", "subprocess", "threading", "tomllib", "websockets",
    "actors", "analytics", "evscallpro", "gateway", "asterisk",
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_that_does_io(module: Path) -> None:
    assert imported_modules(module) & FORBIDDEN == set()


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def load():\n    import tomllib\n    from os import environ\n")
    assert imported_modules(sample) == {"tomllib", "os"}
