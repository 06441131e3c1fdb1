"""Every error is RFC 9457 problem+json: 400, 404, 405, 409, 413, 422, 500 and 503."""

from __future__ import annotations

import logging

import pytest

from api.app import create_app
from identity.clients import keys
from piivault.db import make_engine
from piivault.devbao import free_port
from tests.api.conftest import bearer
from tests.conftest import make_container, make_settings


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.data
    assert resp.mimetype == "application/problem+json"
    body = resp.json
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"]
    return body


def test_unknown_path_is_404(client, admin_key):
    _problem(client.get("/v1/no-such-thing", headers=bearer(admin_key)), 404)


def test_unknown_client_is_404(client, admin_key):
    body = _problem(client.get("/v1/clients/abcd1234", headers=bearer(admin_key)), 404)
    assert body["type"].endswith("/not_found")
    _problem(client.delete("/v1/clients/abcd1234", headers=bearer(admin_key)), 404)


def test_wrong_method_is_405_with_allow(client, admin_key):
    resp = client.put("/v1/clients", json={}, headers=bearer(admin_key))
    _problem(resp, 405)
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_unknown_field_is_422_with_field_errors(client, admin_key):
    resp = client.post(
        "/v1/clients",
        json={"name": "crm", "role": "service", "purposes": ["aml_kyc"], "colour": "blue"},
        headers=bearer(admin_key),
    )
    body = _problem(resp, 422)
    assert body["errors"] == {"json": {"colour": ["Unknown field."]}}


def test_bad_values_are_422_with_field_errors(client, admin_key):
    resp = client.post(
        "/v1/clients",
        json={"name": "no spaces!", "role": "root", "purposes": ["Bad Code"], "expires_in_days": 0},
        headers=bearer(admin_key),
    )
    errors = _problem(resp, 422)["errors"]["json"]
    assert set(errors) == {"name", "role", "purposes", "expires_in_days"}
    # Field errors never repeat the rejected value.
    assert "no spaces!" not in resp.get_data(as_text=True)
    missing = _problem(client.post("/v1/clients", json={}, headers=bearer(admin_key)), 422)
    assert set(missing["errors"]["json"]) == {"name", "role"}


def test_rule_violations_are_422(client, admin_key):
    resp = client.post(
        "/v1/clients",
        json={"name": "boss", "role": "admin", "purposes": ["aml_kyc"]},
        headers=bearer(admin_key),
    )
    body = _problem(resp, 422)
    assert "service and analyst clients only" in body["detail"]


def test_invalid_json_is_400(client, admin_key):
    resp = client.post(
        "/v1/clients",
        data=b"{not json",
        headers={**bearer(admin_key), "Content-Type": "application/json"},
    )
    _problem(resp, 400)


def test_revoking_twice_is_409(client, admin_key, make_key):
    client_id = keys.parse(make_key("service", name="twice")).public_id
    assert client.delete(f"/v1/clients/{client_id}", headers=bearer(admin_key)).status_code == 200
    body = _problem(client.delete(f"/v1/clients/{client_id}", headers=bearer(admin_key)), 409)
    assert body["type"].endswith("/conflict")


def test_oversize_body_is_413(container, admin_key):
    container.settings = container.settings.replace(max_request_bytes=2048)
    client = create_app(container).test_client()
    body = {"name": "crm", "role": "service", "purposes": ["p" + str(i) for i in range(400)]}
    _problem(client.post("/v1/clients", json=body, headers=bearer(admin_key)), 413)
    # A body under the limit goes through.
    ok = client.post("/v1/clients", json={**body, "purposes": ["aml_kyc"]}, headers=bearer(admin_key))
    assert ok.status_code == 201


def test_unexpected_errors_are_500_without_details(app, client, admin_key, caplog):
    def boom():
        raise RuntimeError("value 13800138000 leaked into an exception")

    app.add_url_rule("/v1/test-boom", view_func=boom)
    with caplog.at_level(logging.DEBUG):
        resp = client.get("/v1/test-boom", headers=bearer(admin_key))
    body = _problem(resp, 500)
    assert "13800138000" not in resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)
    assert body["detail"] == "an unexpected error occurred"
    assert "13800138000" not in caplog.text


def test_database_outage_is_503_with_retry_after(container, app, client, admin_key):
    assert client.get("/v1/clients", headers=bearer(admin_key)).status_code == 200
    # Point the sessions at a port nothing listens on: the key check cannot reach the database.
    dead = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none?connect_timeout=2")
    container.session_factory.configure(bind=dead)
    try:
        resp = client.get("/v1/clients", headers=bearer(admin_key))
        body = _problem(resp, 503)
        assert body["type"].endswith("/storage_unavailable")
        assert int(resp.headers["Retry-After"]) > 0
        assert admin_key not in resp.get_data(as_text=True)
    finally:
        dead.dispose()


def test_vault_outage_is_503_with_retry_after(database_url, private_bao, tmp_path):
    settings = make_settings(database_url, private_bao, tmp_path, vault_timeout=1.0)
    container = make_container(settings)
    try:

        _, key = container.clients.create(name="admin", role="admin", actor="test")
        client = create_app(container).test_client()
        assert client.get("/v1/clients", headers=bearer(key)).status_code == 200
        container.keyring.cache.evict(["system:api-key-hmac"])
        private_bao.stop()
        resp = client.get("/v1/clients", headers=bearer(key))
        body = _problem(resp, 503)
        assert body["type"].endswith("/vault_unavailable")
        assert resp.headers["Retry-After"]
    finally:
        container.close()


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
def test_wrong_method_on_a_public_route_needs_a_key_then_is_405(client, admin_key, path):
    # Only requests that match a public route are public.
    _problem(client.post(path), 401)
    _problem(client.post(path, headers=bearer(admin_key)), 405)
