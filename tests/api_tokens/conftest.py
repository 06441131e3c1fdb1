"""HTTP fixtures for the tokenization API: the app on a real container, keys per role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from fieldtypes.checksums import GB11643, LUHN
from piivault.container import Container
from tests.approved import create_client

# Test values: valid for their field types, made up.
ID_NUMBER = GB11643.complete("11010519900307123")
CARD = LUHN.complete("622202020011234567")
MOBILE = "13812345678"
NAME = "张三丰"
EMAIL = "zhang.sanfeng@example.com"
PII = (ID_NUMBER, CARD, MOBILE, NAME, EMAIL)


@pytest.fixture
def app(container: Container) -> Flask:
    return create_app(container)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


@pytest.fixture
def make_key(container: Container) -> Callable[..., str]:
    """Create an API client as an admin would (data access approved by a DPO); return its key."""

    def make(role: str = "service", name: str | None = None, **kwargs: Any) -> str:
        _, key = create_client(container, name=name or f"t-{role}", role=role, **kwargs)
        return key

    return make


@pytest.fixture
def service_key(make_key) -> str:
    return make_key("service", name="crm", purposes=["aml_kyc", "account_service", "marketing"])


def customer_items(subject_id: str | None = "cust-0001") -> list[dict]:
    return [
        {"field_type": "cn_resident_id", "value": ID_NUMBER, "subject_id": subject_id},
        {"field_type": "bank_card", "value": CARD, "subject_id": subject_id, "kind": "format_preserving"},
        {"field_type": "cn_mobile", "value": MOBILE, "subject_id": subject_id, "kind": "deterministic"},
        {"field_type": "name", "value": NAME, "subject_id": subject_id},
        {"field_type": "email", "value": EMAIL, "subject_id": subject_id},
    ]
