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


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = spec["components"][kind][name]
    return node


def test_the_four_eyes_403_and_its_approval_id_are_declared(client):
    """The operations behind four eyes say what their 403 ``approval_required`` holds."""
    spec = client.get("/openapi.json").json
    gated = [
        ("/v1/dsr/{dsr_id}/package", "get"),
        ("/v1/dsr/{dsr_id}/complete", "post"),
        ("/v1/extracts/{extract_id}/reidentify", "post"),
    ]
    for path, method in gated:
        forbidden = _resolve(spec, spec["paths"][path][method]["responses"]["403"])
        assert "approval_required" in forbidden["description"] and "approval_id" in forbidden["description"]
        content = forbidden["content"]["application/problem+json"]
        assert "approval_id" in _resolve(spec, content["schema"])["properties"], path
        assert content["example"]["approval_id"].startswith("apr_")
    # Elsewhere a 403 is the plain one, and the problem schema is the same everywhere.
    plain = _resolve(spec, spec["paths"]["/v1/dsr"]["get"]["responses"]["403"])
    assert "approval_required" not in plain["description"]
    # Asking is a POST of its own: 201 filed now, 200 the pending one.
    ask = spec["paths"]["/v1/dsr/{dsr_id}/package/approval"]["post"]
    assert {"200", "201"} <= set(ask["responses"]) and ask["x-required-roles"] == ["dpo"]
