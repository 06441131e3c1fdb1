"""Fixtures of tests/api (the app on a real container, a client, keys per role)."""

from tests.api.conftest import app, client, make_key  # noqa: F401
