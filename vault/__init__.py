"""Keys and envelope encryption: the only package that touches crypto primitives or Vault.

Public surface::

    Binding, DataKey, Keyring, DekCache, ErasureLedger, LedgerUnavailable
    KeyProvider, TransitKeyProvider, LocalKeyProvider
    Signer, verify_signature
    errors: VaultError, VaultUnavailable, VaultAuthError, KeyNotFound,
            KeyVersionRetired, InvalidSealedValue, SubjectShredded
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vault.errors import (
    InvalidSealedValue,
    KeyNotFound,
    KeyVersionRetired,
    SubjectShredded,
    VaultAuthError,
    VaultError,
    VaultUnavailable,
)

if TYPE_CHECKING:
    from vault.cache import DekCache
    from vault.datakey import DataKey, constant_time_equal
    from vault.keyring import Keyring
    from vault.keystore import (
        StoredKeys,
        stored_as,
        stored_key_rows,
        subject_owner,
        subject_owner_column,
        system_owner,
        with_stored_key,
    )
    from vault.ledger import ErasureLedger, LedgerUnavailable
    from vault.providers import KeyInfo, KeyProvider, LocalKeyProvider, TransitKeyProvider
    from vault.rotation import KeyStatus
    from vault.sealed import Binding
    from vault.signing import Signer
    from vault.signing import verify as verify_signature

# Everything but the errors is imported on first use (PEP 562): `from vault.signing import ...`
# or `from vault import Signer` then loads neither SQLAlchemy (the keyring) nor hvac (Transit),
# which a command's --help and the audit log's note parser do not need (issue 13).
_LAZY = {
    "DekCache": ("vault.cache", "DekCache"),
    "DataKey": ("vault.datakey", "DataKey"),
    "constant_time_equal": ("vault.datakey", "constant_time_equal"),
    "Keyring": ("vault.keyring", "Keyring"),
    "KeyStatus": ("vault.rotation", "KeyStatus"),
    "StoredKeys": ("vault.keystore", "StoredKeys"),
    "stored_as": ("vault.keystore", "stored_as"),
    "stored_key_rows": ("vault.keystore", "stored_key_rows"),
    "subject_owner": ("vault.keystore", "subject_owner"),
    "subject_owner_column": ("vault.keystore", "subject_owner_column"),
    "with_stored_key": ("vault.keystore", "with_stored_key"),
    "system_owner": ("vault.keystore", "system_owner"),
    "ErasureLedger": ("vault.ledger", "ErasureLedger"),
    "LedgerUnavailable": ("vault.ledger", "LedgerUnavailable"),
    "KeyInfo": ("vault.providers", "KeyInfo"),
    "KeyProvider": ("vault.providers", "KeyProvider"),
    "LocalKeyProvider": ("vault.providers", "LocalKeyProvider"),
    "TransitKeyProvider": ("vault.providers", "TransitKeyProvider"),
    "Binding": ("vault.sealed", "Binding"),
    "Signer": ("vault.signing", "Signer"),
    "verify_signature": ("vault.signing", "verify"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'vault' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # the next lookup is an ordinary one
    return value


__all__ = [
    "Binding",
    "DataKey",
    "DekCache",
    "ErasureLedger",
    "InvalidSealedValue",
    "KeyInfo",
    "KeyNotFound",
    "KeyProvider",
    "KeyStatus",
    "KeyVersionRetired",
    "Keyring",
    "LedgerUnavailable",
    "LocalKeyProvider",
    "Signer",
    "StoredKeys",
    "SubjectShredded",
    "TransitKeyProvider",
    "VaultAuthError",
    "VaultError",
    "VaultUnavailable",
    "constant_time_equal",
    "stored_as",
    "stored_key_rows",
    "subject_owner",
    "subject_owner_column",
    "system_owner",
    "verify_signature",
    "with_stored_key",
]
