"""Key providers: where the key-encryption key (KEK) lives."""

from vault.providers.base import KeyInfo, KeyProvider
from vault.providers.local import LocalKeyProvider
from vault.providers.transit import TransitKeyProvider

__all__ = ["KeyInfo", "KeyProvider", "LocalKeyProvider", "TransitKeyProvider"]
