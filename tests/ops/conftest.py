"""The tokenization API's HTTP fixtures (app, client, keys), for the operations tests."""

from tests.api_tokens.conftest import app, client, make_key, service_key  # noqa: F401
