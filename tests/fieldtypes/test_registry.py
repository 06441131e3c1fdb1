"""The field type registry: built-in classifications and codes, unknown codes, registering types.

A field type's checks on its own definition are here too; what each built-in type accepts,
normalizes to, refuses and masks is in test_values.py.
"""

from __future__ import annotations

import pytest

from fieldtypes import (
    DuplicateFieldType,
    FieldType,
    FieldTypeRegistry,
    Names,
    Sensitivity,
    UnknownFieldType,
    default_registry,
)

REGISTRY = default_registry()

CLASSIFICATION = {
    "cn_resident_id": ("C2", True),
    "cn_mobile": ("C2", False),
    "bank_card": ("C2", True),
    "cn_uscc": ("C1", False),
    "passport": ("C2", True),
    "email": ("C2", False),
    "name": ("C2", False),
    "address": ("C2", False),
    "date_of_birth": ("C2", False),
    "free_text": ("C2", True),
    "cn_vehicle_plate": ("C2", False),
}


@pytest.mark.parametrize(("code", "expected"), CLASSIFICATION.items())
def test_builtin_classification(code, expected):
    field_type = REGISTRY.get(code)
    assert (field_type.sensitivity, field_type.pipl_sensitive) == expected
    assert field_type.rationale and field_type.names.zh and field_type.names.en


def test_builtin_codes():
    assert REGISTRY.codes() == tuple(sorted(CLASSIFICATION))
    assert [field_type.code for field_type in REGISTRY] == list(REGISTRY.codes())
    assert len(REGISTRY) == 11 and "bank_card" in REGISTRY and "nope" not in REGISTRY


def test_unknown_field_type():
    with pytest.raises(UnknownFieldType) as caught:
        REGISTRY.get("cn_vessel_number")
    assert caught.value.code == "cn_vessel_number"
    assert "cn_vessel_number" in str(caught.value)
    with pytest.raises(UnknownFieldType):
        REGISTRY.get(["unhashable"])


def _employee_no() -> FieldType:
    return FieldType(
        code="employee_no",
        names=Names("员工编号", "employee number"),
        sensitivity=Sensitivity.C1,
        pipl_sensitive=False,
        normalizer=str.strip,
        validator=lambda value: None,
        mask=lambda value: "***",
        max_length=8,
    )


def test_register_and_override():
    registry = default_registry()
    registry.register(_employee_no())
    assert registry.get("employee_no").names.en == "employee number"
    with pytest.raises(DuplicateFieldType):
        registry.register(_employee_no())
    replacement = _employee_no()
    registry.register(replacement, override=True)
    assert registry.get("employee_no") is replacement


def test_default_registry_is_a_fresh_copy_each_time():
    registry = default_registry()
    registry.register(_employee_no())
    assert "employee_no" not in default_registry()


def test_registry_from_iterable_rejects_duplicates():
    with pytest.raises(DuplicateFieldType):
        FieldTypeRegistry([_employee_no(), _employee_no()])


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code": "Employee-No"}, ValueError),
        ({"sensitivity": "C2"}, TypeError),
        ({"min_length": 9}, ValueError),
    ],
)
def test_field_type_checks_its_own_definition(changes, error):
    fields = {
        "code": "employee_no",
        "names": Names("员工编号", "employee number"),
        "sensitivity": Sensitivity.C1,
        "pipl_sensitive": False,
        "normalizer": str.strip,
        "validator": lambda value: None,
        "mask": lambda value: "***",
        "max_length": 8,
    }
    with pytest.raises(error):
        FieldType(**(fields | changes))


def test_field_types_are_frozen():
    with pytest.raises(AttributeError):
        REGISTRY.get("bank_card").max_length = 30
