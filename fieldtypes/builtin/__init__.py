"""The built-in field types, one module each."""

from __future__ import annotations

from fieldtypes.builtin import (
    address,
    bank_card,
    date_of_birth,
    email,
    free_text,
    mobile,
    name,
    passport,
    resident_id,
    uscc,
    vehicle_plate,
)
from fieldtypes.model import FieldType

BUILTIN_FIELD_TYPES: tuple[FieldType, ...] = (
    resident_id.FIELD_TYPE,
    mobile.FIELD_TYPE,
    bank_card.FIELD_TYPE,
    uscc.FIELD_TYPE,
    passport.FIELD_TYPE,
    email.FIELD_TYPE,
    name.FIELD_TYPE,
    address.FIELD_TYPE,
    date_of_birth.FIELD_TYPE,
    free_text.FIELD_TYPE,
    vehicle_plate.FIELD_TYPE,
)
