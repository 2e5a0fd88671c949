"""Fixtures for tests/analytics (helpers live in analytics_helpers.py; the simulator in
tests/support/sim_core.py)."""

from analytics_helpers import db_path, start_writer
from support.sim_core import sim

__all__ = ["db_path", "sim", "start_writer"]
