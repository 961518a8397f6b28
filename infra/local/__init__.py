"""Local, in-process stand-ins for hosted services used in development and integration tests."""
