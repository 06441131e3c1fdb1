"""Field types: how each kind of PII is normalized, validated, masked and classified.

Built-in types cover Chinese identifiers and common personal data; more are
added by configuration (:func:`load_field_types`), not code. Errors never
carry the value they reject.
"""

from fieldtypes.checksums import CHECK_SCHEMES, CheckScheme
from fieldtypes.config import load_field_types
from fieldtypes.errors import (
    ConfigError,
    DuplicateFieldType,
    FieldTypeError,
    InvalidValue,
    UnknownFieldType,
)
from fieldtypes.masks import MiddleMask
from fieldtypes.model import FieldType, FpeSpec, Names, Sensitivity
from fieldtypes.registry import FieldTypeRegistry, default_registry
from fieldtypes.text import NORMALIZE_STEPS

__all__ = [
    "CHECK_SCHEMES",
    "NORMALIZE_STEPS",
    "CheckScheme",
    "ConfigError",
    "DuplicateFieldType",
    "FieldType",
    "FieldTypeError",
    "FieldTypeRegistry",
    "FpeSpec",
    "InvalidValue",
    "MiddleMask",
    "Names",
    "Sensitivity",
    "UnknownFieldType",
    "default_registry",
    "load_field_types",
]
