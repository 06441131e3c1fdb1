"""Settings: one declarative table from ``PIIVAULT_*`` environment variables.

No secret has a default. Development mode (``piivault dev``) fills in its own
values explicitly and says so loudly; nothing here guesses.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from piivault.errors import ConfigurationError

PREFIX = "PIIVAULT_"


def _int(name: str, lo: int, hi: int) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{PREFIX}{name} must be an integer") from None
        if not lo <= value <= hi:
            raise ConfigurationError(f"{PREFIX}{name} must be between {lo} and {hi}")
        return value

    return convert


def _float(name: str, lo: float, hi: float) -> Callable[[str], float]:
    def convert(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{PREFIX}{name} must be a number") from None
        if not lo <= value <= hi:
            raise ConfigurationError(f"{PREFIX}{name} must be between {lo} and {hi}")
        return value

    return convert


def _choice(name: str, *choices: str) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigurationError(f"{PREFIX}{name} must be one of: {', '.join(choices)}")
        return value

    return convert


def _bool(name: str) -> Callable[[str], bool]:
    def convert(raw: str) -> bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"{PREFIX}{name} must be true or false")

    return convert


def _str(raw: str) -> str:
    return raw.strip()


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    convert: Callable[[str], Any]
    default: Any = None
    secret: bool = False
    help: str = ""


# name, converter, default, secret, help
TABLE: tuple[Setting, ...] = (
    Setting(
        "ENV",
        _choice("ENV", "production", "development", "test"),
        "production",
        help="production | development | test",
    ),
    Setting("DATABASE_URL", _str, None, help="SQLAlchemy URL, e.g. postgresql+psycopg://..."),
    Setting(
        "KEY_PROVIDER",
        _choice("KEY_PROVIDER", "transit", "local"),
        "transit",
        help="transit (Vault/OpenBao) | local (offline tests only, insecure)",
    ),
    Setting("VAULT_ADDR", _str, None, help="Vault/OpenBao address, e.g. https://vault:8200"),
    Setting("VAULT_AUTH", _choice("VAULT_AUTH", "token", "approle"), "token", help="token | approle"),
    Setting("VAULT_TOKEN", _str, None, secret=True, help="Vault token (auth=token)"),
    Setting("VAULT_ROLE_ID", _str, None, help="AppRole role_id (auth=approle)"),
    Setting("VAULT_SECRET_ID", _str, None, secret=True, help="AppRole secret_id (auth=approle)"),
    Setting("VAULT_APPROLE_MOUNT", _str, "approle", help="AppRole auth mount path"),
    Setting("VAULT_NAMESPACE", _str, None, help="Vault Enterprise namespace"),
    Setting("VAULT_CACERT", _str, None, help="CA bundle for Vault TLS"),
    Setting("VAULT_TIMEOUT", _float("VAULT_TIMEOUT", 0.1, 120), 5.0, help="seconds per Vault request"),
    Setting("TRANSIT_MOUNT", _str, "transit", help="Transit engine mount path"),
    Setting("TRANSIT_KEY", _str, "piivault-kek", help="Transit key name (the KEK)"),
    Setting(
        "TRANSIT_BATCH_SIZE",
        _int("TRANSIT_BATCH_SIZE", 1, 10_000),
        250,
        help="items per Transit batch request",
    ),
    Setting(
        "DEK_CACHE_SIZE",
        _int("DEK_CACHE_SIZE", 0, 10_000_000),
        50_000,
        help="unwrapped data keys kept in memory",
    ),
    Setting(
        "DEK_CACHE_TTL",
        _float("DEK_CACHE_TTL", 0, 86_400),
        300.0,
        help="seconds an unwrapped data key may stay cached",
    ),
    Setting(
        "ERASURE_LEDGER",
        _str,
        None,
        help="append-only erasure ledger file, kept outside database backups",
    ),
    Setting(
        "ALLOW_LOCAL_KEYS",
        _bool("ALLOW_LOCAL_KEYS"),
        False,
        help="permit KEY_PROVIDER=local outside tests (never in production)",
    ),
    Setting(
        "LOG_LEVEL",
        _choice("LOG_LEVEL", "debug", "info", "warning", "error"),
        "info",
        help="debug | info | warning | error",
    ),
    Setting("AUDIT_ORIGIN", _str, "piivault.local/audit", help="checkpoint origin line"),
    Setting(
        "AUDIT_BATCH_SIZE",
        _int("AUDIT_BATCH_SIZE", 1, 100_000),
        2_000,
        help="queued events integrated per sequencer step",
    ),
    Setting(
        "AUDIT_MERGE_DELAY",
        _float("AUDIT_MERGE_DELAY", 0.01, 3_600),
        5.0,
        help="seconds within which a queued event must be sequenced",
    ),
    Setting(
        "AUDIT_CHECKPOINT_EVERY",
        _int("AUDIT_CHECKPOINT_EVERY", 1, 10_000_000),
        1_000,
        help="cut a checkpoint every N events",
    ),
    Setting(
        "AUDIT_CHECKPOINT_SECONDS",
        _float("AUDIT_CHECKPOINT_SECONDS", 0.1, 86_400),
        60.0,
        help="cut a checkpoint at least every T seconds when there are new events",
    ),
    Setting(
        "MAX_REQUEST_BYTES",
        _int("MAX_REQUEST_BYTES", 1_024, 256 * 2**20),
        4 * 2**20,
        help="largest accepted request body",
    ),
)

_BY_NAME = {s.name: s for s in TABLE}


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
            if raw is None or raw == "":
                values[setting.name] = setting.default
            else:
                values[setting.name] = setting.convert(raw)
        for key, value in overrides.items():
            name = key.upper()
            if name not in _BY_NAME:
                raise ConfigurationError(f"unknown setting {name}")
            values[name] = value
        return cls(values)

    def __getattr__(self, item: str) -> Any:
        try:
            return self.values[item.upper()]
        except KeyError:
            raise AttributeError(item) from None

    def require(self, name: str) -> Any:
        value = self.values.get(name)
        if value in (None, ""):
            setting = _BY_NAME[name]
            raise ConfigurationError(f"set {PREFIX}{name} ({setting.help})")
        return value

    def replace(self, **overrides: Any) -> Settings:
        merged = dict(self.values)
        for key, value in overrides.items():
            merged[key.upper()] = value
        return Settings(merged)

    def __repr__(self) -> str:
        shown = {
            k: ("***" if _BY_NAME[k].secret and v else v) for k, v in self.values.items() if k in _BY_NAME
        }
        return f"Settings({shown})"
