"""Shared fixtures live in tests/fixtures/*.py, one module per area of the project."""

pytest_plugins = [
    "tests.fixtures.benchmark",
    "tests.fixtures.editors",
    "tests.fixtures.models",
    "tests.fixtures.results",
    "tests.fixtures.stores",
]
