"""Fixtures live in e2e_support (importable by the tests under a unique module name)."""

from e2e_support import core, make_core, sim

__all__ = ["core", "make_core", "sim"]
