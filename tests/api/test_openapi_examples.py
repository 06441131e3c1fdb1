"""Every JSON request body in ``/openapi.json`` carries a realistic example that its own schema
accepts (issue 13); schemathesis sends each one with every role's key (test_schemathesis.py)."""

from __future__ import annotations

import json

from openapi_schema_validator import OAS30Validator


def test_every_json_request_body_has_a_valid_realistic_example(client):
    spec = client.get("/openapi.json").json
    problems = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = (
                (operation.get("requestBody") or {}).get("content", {}) if isinstance(operation, dict) else {}
            )
            if "application/json" not in content:
                continue
            body = content["application/json"]
            if "example" not in body:
                problems.append(f"{method} {path}: no example")
                continue
            if '"string"' in json.dumps(body["example"]):
                problems.append(f"{method} {path}: a placeholder 'string' in the example")
            schema = {**body["schema"], "components": spec["components"]}
            problems += [
                f"{method} {path}: {e.message[:200]}"
                for e in OAS30Validator(schema).iter_errors(body["example"])
            ]
    assert not problems, "\n".join(problems)
