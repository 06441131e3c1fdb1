"""The extract spec: what an analyst asks for, validated before any row is read.

A spec is YAML or JSON::

    purpose: risk_scoring
    description: 2024Q4 credit model refresh
    expires_in_days: 30               # pseudonym key destroyed then (default 30)
    population:
      subject_column: subject_id      # the rows' subject id (default subject_id)
    columns:
      subject_id:  {role: identifier, action: pseudonym}
      name:        {role: identifier}                      # action defaults to drop
      resident_id: {role: quasi, as: region, hierarchy: {type: region, level: city}}  # release: children
      birth_year:  {role: quasi, source: resident_id, hierarchy: {type: birth_year, width: 5}}
      age:         {role: quasi, hierarchy: {type: age_bands, width: 10}, recoding: global}  # one level
      gender:      {role: quasi, hierarchy: {type: suppress}}
      income:      {role: quasi, hierarchy: {type: income_bands}}
      occupation:  {role: quasi, hierarchy: {type: categories, mapping: {白领: [教师, 工程师]}}}
      default_label: {role: sensitive}
      debt_ratio:  {role: attribute, coding: {bottom: 1, top: 99}}
    privacy: {k: 10, l: 2, max_suppression: 0.02, recoding: local}   # or global (every quasi column)
    engine: local                     # or spark (anonymize.extract.spark), default local
    report: {language: zh-CN}         # report.html's language: zh-CN (default) or en
    spark: {master: "local[2]", fragment_rows: 250000, sample_rows: 200000}   # engine: spark only
    table: {path: /data/risk/2024q4, key: customer_token, matches: cn_resident_id}  # engine: spark only

Roles: ``identifier`` (dropped, or replaced by a pseudonym keyed for this
extract only), ``quasi`` (generalized through its hierarchy until k-anonymity
holds), ``sensitive`` (kept; each equivalence class holds at least ``l``
distinct values of each), ``attribute`` (kept; optionally top/bottom coded at
percentiles). Columns the spec does not name are never released; ``as``
renames a column in the output. A column reads the input value named by its
``source`` (default: its own name), so one input may feed several columns
(region and birth year from one resident ID). Run against the vault
(:mod:`anonymize.extract.source`), a source is the subject column, a field
type code (the subject's value, decrypted) or a stored risk attribute.

:mod:`anonymize.extract.spec_parser` turns a document into an :class:`ExtractSpec`;
this module holds what a parsed spec is and the limits, defaults and keys that the
parser and the JSON schema (:mod:`anonymize.extract.schema`) share.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from anonymize.extract.hierarchy import Hierarchy
from anonymize.extract.outputs import REPORT_HTML_BY_LANGUAGE
from anonymize.extract.table import RiskTable

PURPOSE_PATTERN = r"[a-z][a-z0-9_]{0,63}"
MAX_DESCRIPTION = 2000
MAX_SPEC_BYTES = 1_000_000
DEFAULT_EXPIRES_IN_DAYS = 30
# The report is written in both; report.html is the one the spec names (``report.language``).
REPORT_LANGUAGES = tuple(REPORT_HTML_BY_LANGUAGE)
DEFAULT_REPORT_LANGUAGE = "zh-CN"
MAX_EXPIRES_IN_DAYS = 365


class Role(StrEnum):
    IDENTIFIER = "identifier"
    QUASI = "quasi"
    SENSITIVE = "sensitive"
    ATTRIBUTE = "attribute"


class Recoding(StrEnum):
    """How a quasi-identifier is generalized: ``local`` (Mondrian: each class as little as it needs,
    values may overlap from row to row) or ``global`` (every row at one level of the hierarchy,
    :mod:`anonymize.extract.recoding`)."""

    LOCAL = "local"
    GLOBAL = "global"


class IdentifierAction(StrEnum):
    DROP = "drop"
    PSEUDONYM = "pseudonym"


@dataclass(frozen=True)
class Coding:
    """Top/bottom coding of a numeric attribute: values beyond the percentiles are set to them."""

    bottom: float | None = None
    top: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"bottom": self.bottom, "top": self.top}


@dataclass(frozen=True)
class Column:
    name: str
    role: Role
    output: str
    action: IdentifierAction | None = None
    hierarchy: Hierarchy | None = None
    coding: Coding | None = None
    source: str = ""  # the input value it reads; "" is the column's own name
    recoding: Recoding | None = None  # quasi only; None: the spec's privacy.recoding

    def __post_init__(self) -> None:
        if not self.source:
            object.__setattr__(self, "source", self.name)

    @property
    def released(self) -> bool:
        return self.action is not IdentifierAction.DROP

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": str(self.role), "as": self.output, "source": self.source}
        if self.action is not None:
            out["action"] = str(self.action)
        if self.hierarchy is not None:
            out["hierarchy"] = self.hierarchy.to_dict()
        if self.coding is not None:
            out["coding"] = self.coding.to_dict()
        if self.recoding is not None:  # only when set: specs without it hash as they always did
            out["recoding"] = str(self.recoding)
        return out


@dataclass(frozen=True)
class PrivacyModel:
    k: int
    l: int = 1  # noqa: E741 - the model's own name
    max_suppression: float = 0.0
    recoding: Recoding = Recoding.LOCAL  # the default of every quasi column

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"k": self.k, "l": self.l, "max_suppression": self.max_suppression}
        if self.recoding is not Recoding.LOCAL:  # only when set: specs without it hash as before
            out["recoding"] = str(self.recoding)
        return out


ENGINES = ("local", "spark")
# local[N], local[*], local[N,F]; spark://host:port (a standalone master, or several for HA); yarn; k8s://URL.
SPARK_MASTER_PATTERN = (
    r"local(\[(\*|[1-9][0-9]{0,3})(,[1-9][0-9]{0,2})?\])?"
    r"|spark://[A-Za-z0-9.-]+(:[0-9]{1,5})?(,[A-Za-z0-9.-]+(:[0-9]{1,5})?)*"
    r"|yarn"
    r"|k8s://https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?"
)
DEFAULT_FRAGMENT_ROWS = 250_000
DEFAULT_SAMPLE_ROWS = 200_000
DEFAULT_PART_ROWS = 1_000_000


@dataclass(frozen=True)
class Engine:
    """Which runner partitions the rows: ``local`` (one process) or ``spark`` (fragments on executors)."""

    name: str = "local"
    master: str = "local[*]"
    fragment_rows: int = DEFAULT_FRAGMENT_ROWS  # the most rows one executor task partitions
    sample_rows: int = DEFAULT_SAMPLE_ROWS  # the driver's sample for the first cuts
    part_rows: int = DEFAULT_PART_ROWS  # the most rows of one output file (extract-NNNNN.parquet)
    csv: bool = False  # CSV parts beside the Parquet ones, on request

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "master": self.master,
            "fragment_rows": self.fragment_rows,
            "sample_rows": self.sample_rows,
        }
        # Only when set: a Spark spec without them hashes as it did before they existed (a job
        # queued then is run, and its manifest hashed, from the stored spec).
        if self.part_rows != DEFAULT_PART_ROWS:
            out["part_rows"] = self.part_rows
        if self.csv:
            out["csv"] = True
        return out


@dataclass(frozen=True)
class ExtractSpec:
    purpose: str
    columns: tuple[Column, ...]
    privacy: PrivacyModel
    subject_column: str = "subject_id"
    description: str = ""
    expires_in_days: int = DEFAULT_EXPIRES_IN_DAYS
    engine: Engine = Engine()
    table: RiskTable | None = None  # a bank's risk table joined to the population (engine: spark)
    # A UTF-8 byte order mark opening extract.csv: Excel on Chinese Windows reads the file as
    # GBK without one (mojibake); other tools may not expect it, so it is asked for.
    csv_bom: bool = False
    # The language of report.html (report.zh-CN.html and report.en.html are both written).
    report_language: str = DEFAULT_REPORT_LANGUAGE

    def of_role(self, role: Role) -> tuple[Column, ...]:
        return tuple(col for col in self.columns if col.role is role)

    @property
    def quasi(self) -> tuple[Column, ...]:
        return self.of_role(Role.QUASI)

    @property
    def global_quasi(self) -> tuple[Column, ...]:
        """The quasi columns recoded globally (their own ``recoding``, else ``privacy.recoding``)."""
        return tuple(c for c in self.quasi if (c.recoding or self.privacy.recoding) is Recoding.GLOBAL)

    @property
    def sensitive(self) -> tuple[Column, ...]:
        return self.of_role(Role.SENSITIVE)

    @property
    def pseudonymized(self) -> tuple[Column, ...]:
        return tuple(c for c in self.of_role(Role.IDENTIFIER) if c.action is IdentifierAction.PSEUDONYM)

    @property
    def read(self) -> tuple[Column, ...]:
        """The columns whose input is read: every column but dropped identifiers."""
        return tuple(c for c in self.columns if c.released)

    def to_dict(self) -> dict[str, Any]:
        """The spec with every default filled in: what :meth:`sha256` hashes.

        The engine appears only when it is not the default, so a local spec hashes as it always did.
        """
        out = {
            "purpose": self.purpose,
            "description": self.description,
            "expires_in_days": self.expires_in_days,
            "population": {"subject_column": self.subject_column},
            "columns": {col.name: col.to_dict() for col in self.columns},
            "privacy": self.privacy.to_dict(),
        }
        if self.engine.name != "local":
            out |= {"engine": self.engine.name, "spark": self.engine.to_dict()}
        if self.table is not None:
            out["table"] = self.table.to_dict()
        if self.csv_bom:  # only when asked for: specs without it hash as they always did
            out["csv"] = {"bom": True}
        if self.report_language != DEFAULT_REPORT_LANGUAGE:  # likewise
            out["report"] = {"language": self.report_language}
        return out

    def canonical_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def sha256(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict`: the same for any spelling of the same spec."""
        return hashlib.sha256(self.canonical_json()).hexdigest()


@dataclass(frozen=True)
class SpecDraft:
    """What parsed of a spec, valid or not: what a ``vet`` of
    :func:`~anonymize.extract.spec_parser.parse_spec` checks."""

    purpose: str | None  # None when the purpose is missing or malformed (already a problem)
    columns: tuple[Column, ...]  # the columns that parsed
    subject_column: str
    table: RiskTable | None = None


# The keys each role's column takes.
ROLE_KEYS = {
    Role.IDENTIFIER: frozenset({"role", "as", "source", "action"}),
    Role.QUASI: frozenset({"role", "as", "source", "hierarchy", "recoding"}),
    Role.SENSITIVE: frozenset({"role", "as", "source"}),
    Role.ATTRIBUTE: frozenset({"role", "as", "source", "coding"}),
}
