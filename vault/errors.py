"""Errors raised by :mod:`vault`. None of their messages carry key material or PII."""

from __future__ import annotations

from piivault.errors import ConfigurationError, NotFound, PiivaultError, UnavailableError


class VaultError(PiivaultError):
    """Base class for key-management errors."""

    code = "vault_error"


class VaultUnavailable(UnavailableError, VaultError):
    """Vault/OpenBao could not be reached or is sealed; retry later."""

    code = "vault_unavailable"


class VaultAuthError(ConfigurationError, VaultError):
    """Vault refused our credentials (bad or expired token, AppRole login failed)."""

    code = "vault_auth_failed"
    http_status = 503


class KeyNotFound(ConfigurationError, VaultError):
    """The Transit mount or key does not exist."""

    code = "kek_not_found"
    http_status = 503


class KeyVersionRetired(VaultError):
    """A wrapped data key uses a KEK version below min_decryption_version."""

    code = "kek_version_retired"
    http_status = 503


class InvalidSealedValue(VaultError):
    """A sealed value could not be opened.

    Deliberately one error for every cause (tampering, wrong key, wrong
    binding, truncation, unknown version) so callers cannot build an oracle.
    """

    code = "invalid_sealed_value"
    http_status = 500

    def __init__(self) -> None:
        super().__init__("sealed value could not be opened")


class SubjectShredded(NotFound, VaultError):
    """The subject's data key was destroyed (crypto-shredded) or never existed."""

    code = "subject_shredded"
