"""The key-provider interface.

A provider wraps and unwraps data keys with a KEK it never reveals, rotates
that KEK, and rewraps wrapped keys to its newest version. All methods take
and return batches: callers hand over as many keys as they have and the
provider chunks them into requests its backend accepts.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    name: str
    latest_version: int
    min_decryption_version: int
    min_encryption_version: int
    versions: tuple[int, ...]
    key_type: str


class KeyProvider(abc.ABC):
    """Wraps data keys under a KEK that never leaves the provider."""

    name: str = "abstract"

    @abc.abstractmethod
    def wrap(self, keys: Sequence[bytes]) -> list[str]:
        """Wrap raw data keys; returns ``<prefix>:v<N>:...`` strings in the same order."""

    @abc.abstractmethod
    def unwrap(self, wrapped: Sequence[str]) -> list[bytes]:
        """Unwrap; raises KeyVersionRetired, VaultUnavailable or InvalidSealedValue."""

    @abc.abstractmethod
    def rewrap(self, wrapped: Sequence[str]) -> list[str]:
        """Rewrap to the newest KEK version without exposing the data keys."""

    @abc.abstractmethod
    def rotate(self) -> KeyInfo:
        """Create a new KEK version; new wraps use it."""

    @abc.abstractmethod
    def key_info(self) -> KeyInfo:
        """Versions of the KEK; raises KeyNotFound, VaultAuthError, VaultUnavailable."""

    @abc.abstractmethod
    def set_min_decryption_version(self, version: int) -> KeyInfo:
        """Retire KEK versions below ``version``."""

    @abc.abstractmethod
    def ensure_key(self) -> KeyInfo:
        """Create the KEK if it does not exist (bootstrap)."""

    def check(self) -> KeyInfo:
        """Raise a typed error unless the KEK is usable; used by start-up and /readyz."""
        return self.key_info()

    @staticmethod
    def version_of(wrapped: str) -> int:
        """The KEK version a wrapped key was made with (``vault:v3:...`` -> 3)."""
        try:
            _prefix, version, _rest = wrapped.split(":", 2)
            if not version.startswith("v"):
                raise ValueError
            return int(version[1:])
        except ValueError:
            raise ValueError("wrapped key has no version prefix") from None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
