"""Fixtures every test folder may use; the stack starts only for tests that ask for it."""

import pytest

from tests.stack_fixture import stack  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "no_ledger_audit: the module leaves an inconsistent ledger on purpose; skip the "
        "full ledger audit that tests/integration/conftest.py runs after each module",
    )
