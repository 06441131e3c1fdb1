"""``GET /v1/field-types``: every role reads the field types; no value, only masked made-up examples."""

from __future__ import annotations

import pytest

from fieldtypes.builtin import BUILTIN_FIELD_TYPES
from identity.clients.model import ROLES
from tests.api.conftest import bearer


@pytest.mark.parametrize("role", ROLES)
def test_every_role_lists_the_field_types(client, make_key, role):
    resp = client.get("/v1/field-types", headers=bearer(make_key(role, name=f"ft-{role}")))
    assert resp.status_code == 200, resp.data
    listed = {item["code"]: item for item in resp.json["field_types"]}
    assert set(listed) == {ft.code for ft in BUILTIN_FIELD_TYPES}
    assert listed["cn_mobile"] == {
        "code": "cn_mobile",
        "names": {"zh": "手机号码", "en": "mainland China mobile number"},
        "sensitivity": "C2",
        "pipl_sensitive": False,
        "mask_example": "138****8000",
        "token_kinds": ["random", "deterministic", "format_preserving"],
    }
    assert listed["bank_card"]["pipl_sensitive"] is True
    assert listed["email"]["token_kinds"] == ["random", "deterministic"]  # no format-preserving email
    assert listed["cn_vehicle_plate"]["mask_example"] == "京A*****"


def test_field_types_need_a_key(client):
    assert client.get("/v1/field-types").status_code == 401


def test_every_builtin_example_is_valid_and_masked():
    for field_type in BUILTIN_FIELD_TYPES:
        assert field_type.normalize_and_validate(field_type.example) == field_type.example
        assert field_type.mask_example and field_type.mask_example != field_type.example
