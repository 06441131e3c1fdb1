"""Every ``PIIVAULT_*`` setting, declared once: its name, how its text is converted and checked,
its default, whether it is secret, its help line, and whether it may come from a file.

Data, read by :class:`piivault.settings.Settings`; the README's configuration table and
``piivault check`` say what is here. No secret has a default.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from piivault.errors import ConfigurationError

PREFIX = "PIIVAULT_"
CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")


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


def _codes(name: str) -> Callable[[str], tuple[str, ...]]:
    def convert(raw: str) -> tuple[str, ...]:
        codes = tuple(dict.fromkeys(c.strip() for c in raw.split(",") if c.strip()))
        if not codes or not all(CODE.fullmatch(c) for c in codes):
            raise ConfigurationError(f"{PREFIX}{name} must be comma-separated codes like account_service")
        return codes

    return convert


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    convert: Callable[[str], Any]
    default: Any = None
    secret: bool = False
    help: str = ""
    # Also read from the file PIIVAULT_<NAME>_FILE names (Compose and Kubernetes secrets are files).
    from_file: bool = False


# name, converter, default, secret, help
TABLE: tuple[Setting, ...] = (
    Setting(
        "ENV",
        _choice("ENV", "production", "development", "test"),
        "production",
        help="production | development | test",
    ),
    Setting(
        "DATABASE_URL",
        _str,
        None,
        help="SQLAlchemy URL, e.g. postgresql+psycopg://... (or a file: PIIVAULT_DATABASE_URL_FILE)",
        from_file=True,
    ),
    Setting(
        "KEY_PROVIDER",
        _choice("KEY_PROVIDER", "transit", "local"),
        "transit",
        help="transit (Vault/OpenBao) | local (offline tests only, insecure)",
    ),
    Setting("VAULT_ADDR", _str, None, help="Vault/OpenBao address, e.g. https://vault:8200"),
    Setting(
        "VAULT_AUTH",
        _choice("VAULT_AUTH", "token", "approle", "jwt"),
        "token",
        help="token | approle | jwt (a Kubernetes service account token, projected for OpenBao)",
    ),
    Setting("VAULT_TOKEN", _str, None, secret=True, help="Vault token (auth=token)", from_file=True),
    Setting("VAULT_ROLE_ID", _str, None, help="AppRole role_id (auth=approle)", from_file=True),
    Setting(
        "VAULT_SECRET_ID", _str, None, secret=True, help="AppRole secret_id (auth=approle)", from_file=True
    ),
    Setting(
        "VAULT_WRAPPED_SECRET_ID",
        _str,
        None,
        secret=True,
        help="single-use wrapping token of an AppRole secret_id (`piivault keys unwrap-secret-id`)",
        from_file=True,
    ),
    Setting("VAULT_APPROLE_MOUNT", _str, "approle", help="AppRole auth mount path"),
    Setting("VAULT_JWT_ROLE", _str, None, help="role of the JWT auth method (auth=jwt)"),
    Setting(
        "VAULT_JWT_FILE",
        _str,
        "/var/run/secrets/openbao/token",
        help="the service account token file, read again at every login (the kubelet rotates it)",
    ),
    Setting("VAULT_JWT_MOUNT", _str, "jwt", help="JWT auth mount path"),
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
    Setting(
        "LOG_FORMAT",
        _choice("LOG_FORMAT", "plain", "json"),
        "plain",
        help="plain (development default) | json: one JSON object per line, for a log pipeline",
    ),
    Setting(
        "METRICS",
        _bool("METRICS"),
        True,
        help="serve Prometheus metrics at /metrics (under gunicorn set PROMETHEUS_MULTIPROC_DIR too)",
    ),
    Setting(
        "METRICS_TOKEN_FILE",
        _str,
        None,
        help="file holding the bearer token a scraper must send to /metrics; required in production "
        "(without it /metrics answers 404 there), optional in development",
    ),
    Setting("AUDIT_ORIGIN", _str, "piivault.local/audit", help="checkpoint origin line"),
    Setting(
        "AUDIT_PUBLIC_KEY",
        _str,
        None,
        help="the pinned checkpoint verifier key (<origin>+<key id>+<base64>) `audit verify` trusts; "
        "overrides AUDIT_PUBLIC_KEY_FILE",
    ),
    Setting(
        "AUDIT_PUBLIC_KEY_FILE",
        _str,
        None,
        help="file, outside the database, holding the pinned checkpoint verifier key; written by "
        "`keys bootstrap` (default: audit-public-key.txt next to the erasure ledger)",
    ),
    Setting(
        "AUDIT_TILES_DIR",
        _str,
        None,
        help="directory the sequencer keeps the log in as C2SP tlog-tiles (checkpoint, tile/...), "
        "outside database backups; served at /v1/audit/tiles/",
    ),
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
        "AUDIT_SEQUENCE_INLINE",
        _bool("AUDIT_SEQUENCE_INLINE"),
        None,
        help="sequence queued audit events right after the commit that queued them; default false "
        "in production, where `piivault audit sequence --loop` runs as a process of its own, "
        "true in development and tests (one process, nothing else sequences)",
    ),
    Setting(
        "AUDIT_GROUP_COMMIT",
        _bool("AUDIT_GROUP_COMMIT"),
        True,
        help="PostgreSQL: read-only requests (detokenize) of one process that "
        "arrive together queue their audit events in one shared commit",
    ),
    Setting(
        "MAX_REQUEST_BYTES",
        _int("MAX_REQUEST_BYTES", 1_024, 256 * 2**20),
        4 * 2**20,
        help="largest accepted request body",
    ),
    Setting(
        "AUTH_FAILURE_LIMIT",
        _int("AUTH_FAILURE_LIMIT", 0, 1_000_000),
        20,
        help="failed API-key attempts per presented client id, and per client address, within the window "
        "before a failing key gets 429; a key that verifies is never refused (0: no limit)",
    ),
    Setting(
        "AUTH_FAILURE_WINDOW",
        _float("AUTH_FAILURE_WINDOW", 1, 86_400),
        60.0,
        help="seconds over which failed API-key attempts are counted",
    ),
    Setting(
        "ANSWER_BUDGET",
        _int("ANSWER_BUDGET", 0, 10_000_000),
        200,
        help="not_found/denied answers (each item of a batch) an API client or console user may get "
        "per window; past it, 429 and an audit event (0: no budget)",
    ),
    Setting(
        "ANSWER_BUDGET_WINDOW",
        _int("ANSWER_BUDGET_WINDOW", 1, 86_400),
        600,
        help="seconds over which not_found/denied answers are counted, and a caller past the budget waits",
    ),
    Setting(
        "AUTH_CACHE_SECONDS",
        _float("AUTH_CACHE_SECONDS", 0, 60),
        0.0,
        help="seconds a process may reuse a verified API key without the database (e.g. 2): a key "
        "revoked through another process then fails within this bound, in its own at once; "
        "0 (default): every request checks the database, revocation is immediate everywhere",
    ),
    Setting(
        "TRUSTED_PROXIES",
        _int("TRUSTED_PROXIES", 0, 10),
        0,
        help="reverse proxies in front of the app whose X-Forwarded-For and -Proto are trusted",
    ),
    Setting(
        "API_DOCS",
        _bool("API_DOCS"),
        True,
        help="serve /openapi.json and the Swagger UI at /docs (public: they hold no data)",
    ),
    # tokenization
    Setting("PURPOSES_FILE", _str, None, help="purpose catalogue (YAML/JSON); default: a bank's purposes"),
    Setting("FIELD_TYPES_FILE", _str, None, help="extra field types (YAML/JSON), added to the built-ins"),
    Setting(
        "DETERMINISTIC_SCOPE",
        _choice("DETERMINISTIC_SCOPE", "subject", "global"),
        "subject",
        help="same value, same deterministic token: within a subject, or vault-wide (standalone tokens)",
    ),
    Setting(
        "CARD_TOKEN_KEEPS_BIN",
        _bool("CARD_TOKEN_KEEPS_BIN"),
        False,
        help="format-preserving bank-card tokens keep the BIN (first six) as well as the last four; "
        "weakens them: with the mask's digits a token is one of ~10^5 guesses (default false)",
    ),
    # consent and data-subject rights
    Setting(
        "RELATIONSHIP_PURPOSES",
        _codes("RELATIONSHIP_PURPOSES"),
        ("account_service", "aml_kyc"),
        help="purposes that own the customer relationship: a service client holding one may open "
        "and close it (retention holds such as AML's count from it)",
    ),
    Setting("DSR_DUE_DAYS", _int("DSR_DUE_DAYS", 1, 365), 15, help="days to answer a data-subject request"),
    Setting(
        "PURPOSE_CACHE_SECONDS",
        _float("PURPOSE_CACHE_SECONDS", 0, 3_600),
        2.0,
        help="seconds another process may serve a purpose catalogue older than a change (consents: never)",
    ),
    Setting("CONTROLLER_NAME", _str, "piivault controller", help="PII controller named in consent receipts"),
    Setting("CONTROLLER_CONTACT", _str, "", help="controller's contact (DPO) in receipts"),
    Setting("CONTROLLER_ADDRESS", _str, "", help="controller's address in receipts"),
    Setting("CONTROLLER_EMAIL", _str, "", help="controller's email in receipts"),
    Setting("CONTROLLER_PHONE", _str, "", help="controller's phone in receipts"),
    Setting("CONTROLLER_URL", _str, "", help="controller's web address in receipts"),
    Setting("PRIVACY_POLICY_URL", _str, "", help="privacy policy URL in receipts"),
    Setting("CONSENT_JURISDICTION", _str, "CN", help="jurisdiction in receipts"),
    Setting("CONSENT_LANGUAGE", _str, "zh-CN", help="language of notices, in receipts"),
    Setting(
        "IMPORT_MAX_BYTES",
        _int("IMPORT_MAX_BYTES", 1_024, 1024 * 2**20),
        64 * 2**20,
        help="largest consent import accepted over HTTP",
    ),
    # anonymized extracts
    Setting(
        "EXTRACT_DIR",
        _str,
        None,
        help="directory for extract files (default ./var/extracts outside production)",
    ),
    Setting(
        "EXTRACT_WORKER_THREADS",
        _int("EXTRACT_WORKER_THREADS", 0, 16),
        1,
        help="threads per app process running queued extracts, started on the first request "
        "(0: leave them to `piivault jobs run` or `piivault extract worker`)",
    ),
    Setting(
        "EXTRACT_SPARK_MASTERS",
        _str,
        "",
        help="Spark masters a spec may name besides local[N], comma-separated (e.g. spark://head:7077,yarn): "
        "the vault's driver connects there and ships quasi-identifier codes to its executors",
    ),
    Setting(
        "EXTRACT_COMPARE_ROWS",
        _int("EXTRACT_COMPARE_ROWS", 0, 100_000_000),
        1_000_000,
        help="the most rows a Spark extract partitions again on the driver with the local engine, for its "
        "report's single-machine comparison of information loss (0: never)",
    ),
    Setting(
        "EXTRACT_TABLE_ROOTS",
        _str,
        "",
        help="directories or URIs (hdfs://..., s3a://...) under which a spec's risk table may be read by "
        "Spark, comma-separated; empty: specs may not join a table",
    ),
    # separation of duties (access/)
    Setting(
        "APPROVALS",
        _str,
        "",
        help="approvals per action, comma-separated action=count[:role+role] (e.g. dsr.package=0 for a "
        "single DPO: four-eyes off, said at start-up); default: one approval by another person (a DPO)",
    ),
    Setting(
        "APPROVAL_REQUEST_HOURS",
        _int("APPROVAL_REQUEST_HOURS", 1, 30 * 24),
        72,
        help="hours an approval request waits for its approvals before it expires",
    ),
    Setting(
        "GRANT_MAX_MINUTES",
        _int("GRANT_MAX_MINUTES", 1, 7 * 24 * 60),
        480,
        help="the longest grant an approval gives (a client's data access lasts until revoked)",
    ),
    Setting(
        "BREAK_GLASS_MAX_MINUTES",
        _int("BREAK_GLASS_MAX_MINUTES", 1, 24 * 60),
        60,
        help="the longest break-glass grant",
    ),
    # the DPO console (/console)
    Setting("CONSOLE", _bool("CONSOLE"), True, help="serve the DPO web console at /console"),
    Setting(
        "CONSOLE_IDLE_TIMEOUT",
        _int("CONSOLE_IDLE_TIMEOUT", 60, 86_400),
        1_800,
        help="seconds of inactivity after which a console session ends",
    ),
    Setting(
        "CONSOLE_SESSION_LIFETIME",
        _int("CONSOLE_SESSION_LIFETIME", 300, 7 * 86_400),
        43_200,
        help="seconds after sign-in when a console session ends, however active",
    ),
    Setting(
        "CONSOLE_LOCKOUT_FAILURES",
        _int("CONSOLE_LOCKOUT_FAILURES", 1, 1_000),
        5,
        help="failed sign-ins for one username within the window that lock it",
    ),
    Setting(
        "CONSOLE_ADDRESS_FAILURES",
        _int("CONSOLE_ADDRESS_FAILURES", 1, 100_000),
        20,
        help="failed sign-ins from one client address within the window that lock the address",
    ),
    Setting(
        "CONSOLE_LOCKOUT_WINDOW",
        _int("CONSOLE_LOCKOUT_WINDOW", 60, 86_400),
        900,
        help="seconds over which failed console sign-ins are counted",
    ),
    Setting(
        "CONSOLE_LOCKOUT_SECONDS",
        _int("CONSOLE_LOCKOUT_SECONDS", 60, 86_400),
        900,
        help="seconds a username or address stays locked",
    ),
    Setting(
        "CONSOLE_TIME_ZONE",
        _str,
        "Asia/Shanghai",
        help="time zone of new console users (each user may choose their own)",
    ),
    Setting(
        "CUSTOMER_TIME_ZONE",
        _str,
        "Asia/Shanghai",
        help="time zone of the times in a customer's copy of an access request",
    ),
)

BY_NAME = {s.name: s for s in TABLE}
