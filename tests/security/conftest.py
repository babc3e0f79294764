"""Fixtures shared by the security tests."""
from tests.carbon.test_accounting import plant  # noqa: F401 - the ENE plant: three sources with methods and factors
