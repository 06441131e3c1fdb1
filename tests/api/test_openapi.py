"""The OpenAPI document and the Swagger UI page, served without any CDN."""

from __future__ import annotations

import re

from api.app import create_app
from tests.api.conftest import bearer

METHODS = {"get", "put", "post", "delete", "patch"}


def test_openapi_document(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    spec = resp.json
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert spec["security"] == [{"bearerAuth": []}]
    assert {"/v1/clients", "/v1/clients/{client_id}"} <= set(spec["paths"])
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                assert "401" in operation["responses"], (method, path)
    create = spec["paths"]["/v1/clients"]["post"]
    assert create["x-required-roles"] == ["admin"]
    assert {"403", "422"} <= set(create["responses"])
    # Request schemas reject unknown fields, and say so.
    assert spec["components"]["schemas"]["ClientCreate"]["additionalProperties"] is False
    # Errors are documented as RFC 9457 problems.
    problem = spec["components"]["responses"]["UNPROCESSABLE_ENTITY"]["content"]
    assert problem == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_docs_page_loads_nothing_from_outside(client):
    resp = client.get("/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert len(refs) >= 3
    for ref in refs:
        assert not re.match(r"(?i)(https?:)?//", ref), ref
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert len(asset.data) > 1000, ref
    assert not re.search(r"(?i)https?://", html)
    assert '"validatorUrl": null' in html  # no badge fetched from the online validator
    assert "/openapi.json" in html
    assert b"SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").data


def test_docs_can_be_switched_off(container, admin_key):
    container.settings = container.settings.replace(api_docs=False)
    client = create_app(container).test_client()
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/docs", headers=bearer(admin_key)).status_code == 404
    assert client.get("/openapi.json", headers=bearer(admin_key)).status_code == 404
