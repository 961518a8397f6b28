"""Fixtures every test folder may use; the stack starts only for tests that ask for it."""

from tests.stack_fixture import stack  # noqa: F401
