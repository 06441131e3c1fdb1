"""Keys and envelope encryption: the only package that touches crypto primitives or Vault.

Public surface::

    Binding, DataKey, Keyring, DekCache, ErasureLedger, LedgerUnavailable
    KeyProvider, TransitKeyProvider, LocalKeyProvider
    Signer, verify_signature
    errors: VaultError, VaultUnavailable, VaultAuthError, KeyNotFound,
            KeyVersionRetired, InvalidSealedValue, SubjectShredded
"""

from vault.cache import DekCache
from vault.datakey import DataKey, constant_time_equal
from vault.errors import (
    InvalidSealedValue,
    KeyNotFound,
    KeyVersionRetired,
    SubjectShredded,
    VaultAuthError,
    VaultError,
    VaultUnavailable,
)
from vault.keyring import Keyring, KeyStatus, StoredKeys, subject_owner, system_owner
from vault.ledger import ErasureLedger, LedgerUnavailable
from vault.providers import KeyInfo, KeyProvider, LocalKeyProvider, TransitKeyProvider
from vault.sealed import Binding
from vault.signing import Signer
from vault.signing import verify as verify_signature

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
    "subject_owner",
    "system_owner",
    "verify_signature",
]
