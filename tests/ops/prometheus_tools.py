"""Debian's Prometheus binaries for the ops tests (installed by scripts/install-system-deps.sh)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs/prometheus/evscallpro-rules.yml"
RULES_TESTS = ROOT / "docs/prometheus/evscallpro-rules.test.yml"
DASHBOARD = ROOT / "docs/grafana/evscallpro-dashboard.json"


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool`; skip (fail in CI) when it is not installed."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"no {name} in CI: scripts/install-system-deps.sh must run")
        pytest.skip(f"no {name}: run scripts/install-system-deps.sh (Debian's prometheus)")
    return path
