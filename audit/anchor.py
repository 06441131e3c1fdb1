"""The trust anchor of verification: the checkpoint key pinned outside the database.

The checkpoint signing key is sealed in the keyring, that is, in the database
whose log it signs. A verifier that took its public key from there would trust
whoever can write that database: replace the key, rebuild the log, re-sign its
checkpoints, and it verifies. So the public key is pinned where the database
and its backups do not reach: ``piivault keys bootstrap`` writes it to a file
(``PIIVAULT_AUDIT_PUBLIC_KEY_FILE``, by default ``audit-public-key.txt`` next to
the erasure ledger), or the operator sets it (``PIIVAULT_AUDIT_PUBLIC_KEY``,
which wins). Verification checks signatures with the pinned key and fails when
the keyring's key differs; start-up refuses to serve then. Outsiders pass the
published key themselves (``--key``), which is a trust anchor of its own.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from audit.note import NoteError, key_id, parse_verifier_key, verifier_key_string
from piivault.errors import ConfigurationError

PIN_FILE_NAME = "audit-public-key.txt"


@dataclasses.dataclass(frozen=True)
class TrustAnchor:
    """The public key a verification trusted, and where it came from (said in every report)."""

    public_key: bytes
    source: str

    def describe(self, origin: str) -> str:
        return f"{self.source} (key id {key_id(origin, self.public_key).hex()})"


class KeyPin:
    """Where the checkpoint key is pinned: a setting's value, a file, or nowhere."""

    def __init__(self, origin: str, *, value: str | None, path: Path | None) -> None:
        self.origin = origin
        self.value = value
        self.path = path

    @classmethod
    def from_settings(cls, settings: Any) -> KeyPin:
        path = settings.audit_public_key_file
        if path is None and settings.erasure_ledger:
            path = Path(settings.erasure_ledger).with_name(PIN_FILE_NAME)
        return cls(settings.audit_origin, value=settings.audit_public_key, path=Path(path) if path else None)

    def anchor(self) -> TrustAnchor | None:
        """The pinned key, or None when nothing is pinned.

        Raises ConfigurationError: the pinned key is malformed or for another origin,
        or the pin file cannot be read.
        """
        if self.value:
            return TrustAnchor(
                self._parse(self.value, "PIIVAULT_AUDIT_PUBLIC_KEY"), "PIIVAULT_AUDIT_PUBLIC_KEY"
            )
        if self.path is None:
            return None
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigurationError(
                f"the pinned audit key file {self.path} cannot be read ({e.strerror})"
            ) from None
        return TrustAnchor(self._parse(text.strip(), str(self.path)), f"the pinned key file {self.path}")

    def missing(self) -> str:
        """Why there is no anchor, and what to do."""
        where = f"{self.path} does not exist" if self.path else "no pin file is configured"
        return (
            f"no pinned checkpoint key ({where}): run `piivault keys bootstrap` to pin the keyring's key "
            "after checking it against the published one, set PIIVAULT_AUDIT_PUBLIC_KEY, or pass --key"
        )

    def pin(self, public_key: bytes) -> bool:
        """Write ``public_key`` to the pin file unless it is pinned already; return whether it wrote.

        Raises ConfigurationError: the pinned key is another one (the keyring's key
        was replaced?), or the file cannot be written.
        """
        pinned = self.anchor()
        if pinned is not None:
            if pinned.public_key != public_key:
                raise ConfigurationError(self.mismatch(pinned))
            return False
        if self.path is None:
            return False
        line = verifier_key_string(self.origin, public_key) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, line.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise ConfigurationError(
                f"cannot write the pinned audit key file {self.path} ({e.strerror})"
            ) from None
        return True

    def mismatch(self, pinned: TrustAnchor) -> str:
        return (
            f"the keyring's checkpoint key is not the pinned one ({pinned.describe(self.origin)}): "
            "the key in the database was replaced, or the pin is stale"
        )

    def _parse(self, text: str, where: str) -> bytes:
        try:
            parsed = parse_verifier_key(text)
        except NoteError as e:
            raise ConfigurationError(f"the pinned audit key ({where}) is malformed: {e}") from None
        if parsed.name != self.origin:
            raise ConfigurationError(
                f"the pinned audit key ({where}) is for {parsed.name!r}, not {self.origin!r}"
            )
        return parsed.public_key
