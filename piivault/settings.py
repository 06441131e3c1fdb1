"""Settings: read from ``PIIVAULT_*`` environment variables by one declarative table
(:mod:`piivault.settings_table`).

No secret has a default. Development mode (``piivault dev``) fills in its own
values explicitly and says so loudly; nothing here guesses.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from piivault.errors import ConfigurationError
from piivault.settings_table import BY_NAME, PREFIX, TABLE

# Settings production cannot do without, besides Vault's (which depend on the auth method).
_PRODUCTION_REQUIRED = (
    "DATABASE_URL",
    "ERASURE_LEDGER",
    "EXTRACT_DIR",
    "CONTROLLER_CONTACT",
    "CONTROLLER_ADDRESS",
    "CONTROLLER_EMAIL",
    "CONTROLLER_PHONE",
    "PRIVACY_POLICY_URL",
)


def _read_setting_file(name: str, path: str | None) -> str | None:
    """The content of PIIVAULT_<name>_FILE, stripped of its final newline; None if unset."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:
        raise ConfigurationError(f"{PREFIX}{name}_FILE cannot be read ({e.strerror})") from None


def _what_to_set(name: str) -> str:
    return f"set {PREFIX}{name} ({BY_NAME[name].help})"


@dataclasses.dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting; raise :class:`ConfigurationError` on a bad value."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in TABLE:
            raw = env.get(PREFIX + setting.name)
            if (raw is None or raw == "") and setting.from_file:
                raw = _read_setting_file(setting.name, env.get(f"{PREFIX}{setting.name}_FILE"))
            if raw is None or raw == "":
                values[setting.name] = setting.default
            else:
                values[setting.name] = setting.convert(raw)
        for key, value in overrides.items():
            name = key.upper()
            if name not in BY_NAME:
                raise ConfigurationError(f"unknown setting {name}")
            values[name] = value
        if values["AUDIT_SEQUENCE_INLINE"] is None:
            # Production runs the sequencer loop beside the API (deploy/): requests then queue
            # their events and never sequence (bench/api.py --audit worker, issue 22).
            values["AUDIT_SEQUENCE_INLINE"] = values["ENV"] != "production"
        return cls(values)

    def __getattr__(self, item: str) -> Any:
        try:
            return self.values[item.upper()]
        except KeyError:
            raise AttributeError(item) from None

    def require(self, name: str) -> Any:
        value = self.values.get(name)
        if value in (None, ""):
            raise ConfigurationError(_what_to_set(name))
        return value

    def production_problems(self) -> list[str]:
        """In production, what is missing: one line per setting, saying what to set.

        Each is a setting without which a feature fails or lies once serving: the
        database, Vault and its credentials, the erasure ledger (erasures), the extract
        directory (extracts), and the controller that signed consent receipts name
        (Kantara Consent Receipt v1.1 requires its name, contact, address, email, phone
        and privacy policy).
        """
        if self.env != "production":
            return []
        if self.key_provider == "local":
            needed = ["KEY_PROVIDER"]
        elif self.vault_auth == "approle":
            needed = ["VAULT_ADDR", "VAULT_ROLE_ID", "VAULT_SECRET_ID"]
        elif self.vault_auth == "jwt":
            needed = ["VAULT_ADDR", "VAULT_JWT_ROLE"]
        else:
            needed = ["VAULT_ADDR", "VAULT_TOKEN"]
        needed += _PRODUCTION_REQUIRED
        problems = [
            f"set {PREFIX}KEY_PROVIDER=transit: the in-process key provider is for tests"
            if name == "KEY_PROVIDER"
            else _what_to_set(name)
            for name in needed
            if name == "KEY_PROVIDER" or self.values.get(name) in (None, "")
        ]
        if self.values.get("CONTROLLER_NAME") == BY_NAME["CONTROLLER_NAME"].default:
            problems.append(_what_to_set("CONTROLLER_NAME") + ", not the placeholder")
        return problems

    def require_production(self) -> None:
        """Raise ConfigurationError listing :meth:`production_problems`, one line each."""
        problems = self.production_problems()
        if problems:
            raise ConfigurationError("\n".join(problems))

    def replace(self, **overrides: Any) -> Settings:
        merged = dict(self.values)
        for key, value in overrides.items():
            merged[key.upper()] = value
        return Settings(merged)

    def __repr__(self) -> str:
        shown = {k: ("***" if BY_NAME[k].secret and v else v) for k, v in self.values.items() if k in BY_NAME}
        return f"Settings({shown})"
