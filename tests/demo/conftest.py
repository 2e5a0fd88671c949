"""The ARI simulator fixture, defined once in tests/support/sim_core.py."""

from support.sim_core import sim

__all__ = ["sim"]
