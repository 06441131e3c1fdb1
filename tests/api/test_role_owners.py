"""Who may call an operation is decided once, by the service that owns it.

The API's views require the owner's tuple (``require_roles(*SUBMIT_ROLES)``): the 403
before the body is read, the OpenAPI document's ``x-required-roles`` and the services'
own checks cannot disagree. These tests send every client role to each operation.
"""

from __future__ import annotations

import pytest

from anonymize.extract.service import ATTRIBUTE_ROLES, READ_ROLES, REIDENTIFY_ROLES, SUBMIT_ROLES
from identity.clients.model import PURPOSE_BOUND_ROLES, ROLES
from privacy import DETOKENIZE_ROLES, TOKENIZE_ROLES
from privacy.model import (
    CLOSE_ROLES,
    CONSENT_ROLES,
    DSR_CREATE_ROLES,
    DSR_ROLES,
    IMPORT_ROLES,
    PURPOSE_ADMIN_ROLES,
)
from tests.api.conftest import bearer
from tokenization.service import SUBJECT_CREATE_ROLES, SUBJECT_READ_ROLES

OWNED = [
    ("post", "/v1/tokenize", TOKENIZE_ROLES),
    ("post", "/v1/detokenize", tuple(DETOKENIZE_ROLES)),
    ("post", "/v1/subjects", SUBJECT_CREATE_ROLES),
    ("get", "/v1/subjects/{subject_id}", SUBJECT_READ_ROLES),
    ("post", "/v1/extracts", SUBMIT_ROLES),
    ("get", "/v1/extracts/{extract_id}", READ_ROLES),
    ("post", "/v1/extracts/{extract_id}/reidentify", REIDENTIFY_ROLES),
    ("post", "/v1/attributes", ATTRIBUTE_ROLES),
    ("post", "/v1/purposes", PURPOSE_ADMIN_ROLES),
    ("post", "/v1/subjects/{subject_id}/consents", CONSENT_ROLES),
    ("post", "/v1/consents/import", IMPORT_ROLES),
    ("post", "/v1/dsr", DSR_CREATE_ROLES),
    ("get", "/v1/dsr", DSR_ROLES),
    ("post", "/v1/subjects/{subject_id}/close", CLOSE_ROLES),
    ("post", "/v1/subjects/{subject_id}/holds", DSR_ROLES),
]


@pytest.fixture
def role_keys(make_key) -> dict[str, dict[str, str]]:
    def key(role: str) -> str:
        purposes = ["marketing"] if role in PURPOSE_BOUND_ROLES else []
        return make_key(role, name=f"owner-{role}", purposes=purposes)

    return {role: bearer(key(role)) for role in ROLES}


def test_the_openapi_document_names_the_owners_roles(client):
    paths = client.get("/openapi.json").json["paths"]
    for method, path, owner in OWNED:
        assert paths[path][method]["x-required-roles"] == list(owner), (method, path)


def test_every_role_outside_the_owners_is_refused_and_none_inside(client, role_keys):
    for method, path, owner in OWNED:
        url = path.replace("{subject_id}", "cust-0001").replace("{extract_id}", "ext_unknown")
        refusal = f"this operation needs the role {' or '.join(owner)}"
        for role in ROLES:
            kwargs = {} if method == "get" else {"json": {}}
            resp = client.open(url, method=method.upper(), headers=role_keys[role], **kwargs)
            detail = (resp.json or {}).get("detail", "")
            # The view's check, or the service's (detokenize audits the refusal and words it so).
            refused = resp.status_code == 403 and (detail == refusal or detail.startswith(f"role {role!r}"))
            assert refused == (role not in owner), (method, path, role, resp.status_code, resp.json)
