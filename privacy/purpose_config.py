"""The purpose catalogue: why data may be used, on what legal basis, and which field types.

Loaded from a YAML or JSON file named by ``PIIVAULT_PURPOSES_FILE``; without
one, :data:`DEFAULT_PURPOSES` (a bank's usual purposes) apply. A file replaces
the defaults as a whole, so what is allowed is always written in one place::

    purposes:
      - code: aml_kyc
        legal_basis: legal_obligation     # PIPL art. 13 basis, see LegalBasis
        consent_required: false           # default: true only for legal_basis consent
        separate_consent_required: false  # PIPL art. 23 / 29; needs consent_required
        field_types: [name, cn_resident_id, passport]   # or "all"
        retention: 5 years after the relationship ends
        description: customer due diligence under the Anti-Money Laundering Law

Whatever the file says, a purpose that requires consent is denied until the
subject has consented (:mod:`privacy.verdict`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fieldtypes import ConfigError, FieldTypeRegistry
from fieldtypes.config import _read as read_source
from fieldtypes.model import CODE_PATTERN
from piivault.errors import ConfigurationError


class LegalBasis(StrEnum):
    """PIPL art. 13: the grounds on which personal information may be processed."""

    CONSENT = "consent"  # 13(1)
    CONTRACT = "contract"  # 13(2): concluding or performing a contract, HR management
    LEGAL_OBLIGATION = "legal_obligation"  # 13(3): statutory duties or obligations
    EMERGENCY = "emergency"  # 13(4): public health emergencies, life and property
    PUBLIC_INTEREST = "public_interest"  # 13(5): news reporting, public opinion supervision
    PUBLIC_INFORMATION = "public_information"  # 13(6): information already lawfully disclosed
    OTHER_LAW = "other_law"  # 13(7): other circumstances provided by law


@dataclass(frozen=True)
class Purpose:
    code: str
    legal_basis: LegalBasis
    consent_required: bool
    separate_consent_required: bool
    field_types: frozenset[str] | None  # None: every field type
    retention: str
    description: str = ""

    def __post_init__(self) -> None:
        if not CODE_PATTERN.fullmatch(self.code):
            raise ValueError("purpose code must match [a-z][a-z0-9_]{1,63}")
        if self.legal_basis is LegalBasis.CONSENT and not self.consent_required:
            raise ValueError("a purpose whose legal basis is consent must require consent")
        if self.separate_consent_required and not self.consent_required:
            raise ValueError("separate consent is only meaningful when consent is required")

    def covers(self, field_type: str) -> bool:
        return self.field_types is None or field_type in self.field_types


_KYC = frozenset(
    {"name", "cn_resident_id", "passport", "date_of_birth", "address", "cn_mobile", "bank_card", "cn_uscc"}
)

DEFAULT_PURPOSES: tuple[Purpose, ...] = (
    Purpose(
        "account_service",
        LegalBasis.CONTRACT,
        consent_required=False,
        separate_consent_required=False,
        field_types=None,
        retention="for the duration of the customer relationship",
        description="opening and servicing the customer's accounts and contracts",
    ),
    Purpose(
        "aml_kyc",
        LegalBasis.LEGAL_OBLIGATION,
        consent_required=False,
        separate_consent_required=False,
        field_types=_KYC,
        retention="5 years after the relationship ends",
        description="customer due diligence and record keeping under the Anti-Money Laundering Law",
    ),
    Purpose(
        "risk_scoring",
        LegalBasis.CONSENT,
        consent_required=True,
        separate_consent_required=False,
        field_types=frozenset({"name", "date_of_birth", "address", "cn_mobile", "bank_card", "cn_uscc"}),
        retention="while the consent stands, at most the duration of the relationship",
        description="credit and fraud risk scoring",
    ),
    Purpose(
        "marketing",
        LegalBasis.CONSENT,
        consent_required=True,
        separate_consent_required=False,
        field_types=frozenset({"name", "cn_mobile", "email", "address"}),
        retention="until the consent is withdrawn",
        description="offers of the institution's own products",
    ),
    Purpose(
        "third_party_sharing",
        LegalBasis.CONSENT,
        consent_required=True,
        separate_consent_required=True,
        field_types=frozenset({"name", "cn_mobile", "email", "cn_resident_id", "bank_card"}),
        retention="as stated in the separate consent",
        description="providing personal information to another processor (PIPL art. 23)",
    ),
)


class PurposeCatalogue:
    """Purposes by code. Built once at start-up, then only read."""

    def __init__(self, purposes: Iterable[Purpose]) -> None:
        self._by_code: dict[str, Purpose] = {}
        for purpose in purposes:
            if purpose.code in self._by_code:
                raise ConfigurationError(f"purpose {purpose.code!r} is defined twice")
            self._by_code[purpose.code] = purpose

    def get(self, code: str) -> Purpose | None:
        return self._by_code.get(code)

    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_code))

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Purpose]:
        return iter(sorted(self._by_code.values(), key=lambda p: p.code))

    def __len__(self) -> int:
        return len(self._by_code)


_ENTRY_KEYS = frozenset(
    {"code", "legal_basis", "consent_required", "separate_consent_required"}
    | {"field_types", "retention", "description"}
)


def load_purposes(
    source: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    field_types: FieldTypeRegistry | None = None,
) -> PurposeCatalogue:
    """The catalogue from ``source`` (a mapping, YAML/JSON text or a file path), or the defaults.

    Field types named by a purpose must exist in ``field_types`` when given.
    Raises :class:`ConfigurationError` naming the offending key.
    """
    if source is None:
        return PurposeCatalogue(DEFAULT_PURPOSES)
    try:
        data = read_source(source)
    except ConfigError as e:
        raise ConfigurationError(f"purposes: {e.message}") from None
    if not isinstance(data, Mapping) or set(data) != {"purposes"} or not isinstance(data["purposes"], list):
        raise ConfigurationError("purposes: the file must be a mapping with one key, 'purposes', a list")
    purposes = [_purpose(entry, f"purposes[{i}]", field_types) for i, entry in enumerate(data["purposes"])]
    if not purposes:
        raise ConfigurationError("purposes: the catalogue is empty")
    return PurposeCatalogue(purposes)


def _purpose(entry: Any, where: str, registry: FieldTypeRegistry | None) -> Purpose:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}: must be a mapping")
    unknown = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
    if unknown:
        raise ConfigurationError(f"{where}.{unknown[0]}: unknown key")
    code = _take(entry, "code", str, where)
    try:
        basis = LegalBasis(_take(entry, "legal_basis", str, where))
    except ValueError:
        choices = ", ".join(b.value for b in LegalBasis)
        raise ConfigurationError(f"{where}.legal_basis: must be one of {choices}") from None
    consent = _take(entry, "consent_required", bool, where, basis is LegalBasis.CONSENT)
    separate = _take(entry, "separate_consent_required", bool, where, False)
    raw_types = entry.get("field_types", "all")
    if raw_types == "all":
        types = None
    elif isinstance(raw_types, list) and all(isinstance(t, str) for t in raw_types):
        types = frozenset(raw_types)
        missing = sorted(t for t in types if registry is not None and t not in registry)
        if missing:
            raise ConfigurationError(f"{where}.field_types: unknown field type {missing[0]!r}")
    else:
        raise ConfigurationError(f"{where}.field_types: must be a list of field type codes or 'all'")
    retention = _take(entry, "retention", str, where)
    if not retention.strip():
        raise ConfigurationError(f"{where}.retention: must say how long data is kept")
    try:
        return Purpose(
            code, basis, consent, separate, types, retention, _take(entry, "description", str, where, "")
        )
    except ValueError as e:
        raise ConfigurationError(f"{where}: {e}") from None


_MISSING = object()


def _take(entry: Mapping[str, Any], key: str, kind: type, where: str, default: Any = _MISSING) -> Any:
    value = entry.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise ConfigurationError(f"{where}.{key}: required")
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigurationError(f"{where}.{key}: must be a {kind.__name__}")
    return value
