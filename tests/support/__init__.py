"""Test support shared by every test folder (tests/ is on sys.path: pytest puts it there
for tests/conftest.py). Nothing here is a test; nothing in the product imports it."""
