from tests.stack_fixture import stack  # noqa: F401
