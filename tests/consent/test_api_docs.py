"""The consent routes are in the OpenAPI document, with their roles, and refuse unknown fields."""

from __future__ import annotations


def test_routes_are_documented_with_roles(client):
    spec = client.get("/openapi.json").json
    expected = {
        ("/v1/purposes", "post"): ["dpo", "admin"],
        ("/v1/subjects/{subject_id}/consents", "post"): ["service", "dpo"],
        ("/v1/subjects/{subject_id}/consents/{purpose}/withdraw", "post"): ["service", "dpo"],
        ("/v1/consents/import", "post"): ["dpo", "admin"],
        ("/v1/dsr", "get"): ["dpo"],
        ("/v1/dsr/{dsr_id}/complete", "post"): ["dpo"],
        ("/v1/subjects/{subject_id}/close", "post"): ["service", "dpo"],
        ("/v1/subjects/{subject_id}/holds", "post"): ["dpo"],
    }
    for (path, method), roles in expected.items():
        operation = spec["paths"][path][method]
        assert operation["x-required-roles"] == roles, path
        assert "403" in operation["responses"]


def test_unknown_fields_and_bad_values_are_422_problems(client, keys):
    resp = client.post(
        "/v1/subjects/cust-0001/consents",
        json={"purpose": "marketing", "channel": "app", "colour": "blue"},
        headers=keys["service"],
    )
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "colour" in resp.json["errors"]["json"]
    resp = client.post(
        "/v1/subjects/cust-0001/consents",
        json={"purpose": "marketing", "channel": "app", "expires_at": "2030-01-01T00:00:00"},
        headers=keys["service"],
    )
    assert resp.status_code == 422  # a time without a zone


def test_roles_are_enforced(client, keys):
    assert client.post("/v1/dsr", json={}, headers=keys["analyst"]).status_code == 403
    assert client.get("/v1/purposes", headers=keys["analyst"]).status_code == 200
    assert client.post("/v1/consents/import", data=b"", headers=keys["service"]).status_code == 403
    assert client.get("/v1/purposes").status_code == 401
