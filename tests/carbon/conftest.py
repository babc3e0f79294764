"""Fixtures shared by the carbon tests."""
from tests.carbon.test_accounting import plant  # noqa: F401 - the plant fixture for every carbon test
