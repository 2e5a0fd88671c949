"""Fixtures for tests/analytics (helpers live in analytics_helpers.py)."""

from analytics_helpers import db_path, start_writer

__all__ = ["db_path", "start_writer"]
