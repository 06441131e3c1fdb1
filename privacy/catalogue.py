"""The purpose catalogue as the policy decision point reads it: seeded from the configuration,
then live from the tables, briefly cached.

The configured catalogue (``PIIVAULT_PURPOSES_FILE`` or the built-in bank
purposes) seeds the tables: a configured purpose is inserted once, when the
tables do not have it; from then on the DPO manages it through the API (the
configuration no longer changes it; :mod:`privacy.purposes` keeps its versions).

:class:`LivePurposeCatalogue` serves the policy decision point the same
catalogue interface as :class:`privacy.PurposeCatalogue`, cached
for ``PIIVAULT_PURPOSE_CACHE_SECONDS`` and dropped in this process as soon as
a change commits. Consents are never cached (:mod:`privacy.consent_check`).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from piivault.sql import insert_ignore
from privacy import model as m
from privacy import tables as t
from privacy.purpose_config import LegalBasis, Purpose, PurposeCatalogue
from privacy.purposes import all_purposes, insert_notice, purpose_row, record_version, require

SEED_ACTOR = "piivault.seed"
_RETENTION_AFTER_END = re.compile(r"(\d{1,3}) years? after the relationship ends")
# Names of the built-in purposes; a configured purpose without one is named by its code.
SEED_NAMES = {
    "account_service": ("账户服务", "Account service"),
    "aml_kyc": ("反洗钱客户身份识别与记录保存", "AML customer due diligence and record keeping"),
    "risk_scoring": ("信用与欺诈风险评估", "Credit and fraud risk scoring"),
    "marketing": ("本机构产品营销", "Marketing of our own products"),
    "third_party_sharing": ("向第三方提供个人信息", "Providing personal information to third parties"),
}
# The built-in purposes' first notices in Chinese (the configured description is the English one).
SEED_NOTICES_ZH = {
    "account_service": "开立和维护客户的账户与合同",
    "aml_kyc": "依《反洗钱法》开展客户尽职调查并保存记录",
    "risk_scoring": "信用与欺诈风险评估",
    "marketing": "推荐本机构自己的产品",
    "third_party_sharing": "向其他个人信息处理者提供个人信息（《个人信息保护法》第 23 条）",
}


# -- seeding from the configuration -------------------------------------------
def seed_definition(purpose: Purpose) -> dict[str, Any]:
    """A configured purpose as a definition for the tables."""
    match = _RETENTION_AFTER_END.search(purpose.retention)
    names = SEED_NAMES.get(purpose.code, (purpose.code, purpose.code.replace("_", " ")))
    if purpose.separate_consent_required:
        grounds = ["third_party"] if "third_party" in purpose.code else ["sensitive_pi"]
    else:
        grounds = []
    return {
        "code": purpose.code,
        "name_zh": names[0],
        "name_en": names[1],
        "legal_basis": purpose.legal_basis.value,
        "consent_required": purpose.consent_required,
        "separate_consent_required": purpose.separate_consent_required,
        "separate_grounds": grounds,
        "third_parties": [],
        "field_types": None if purpose.field_types is None else sorted(purpose.field_types),
        "retention": purpose.retention,
        "retention_anchor": "relationship_end" if match else None,
        "retention_years": int(match.group(1)) if match else None,
        "hold_roles": list(m.HOLD_ROLES) if match else [],
        "description": purpose.description,
        "reconsent_grace": False,
    }


def seed(session: Session, catalogue: PurposeCatalogue, now: dt.datetime) -> int:
    """Insert the configured purposes the tables do not have yet; returns how many.

    A purpose already in the tables is never changed from the configuration
    (the DPO manages it from then on; a retired one stays retired); a purpose
    added to the configuration later is added. Safe against a concurrent
    seed: each purpose is inserted at most once.
    """
    known = set(session.scalars(sa.select(t.purposes.c.code)))
    inserted = 0
    for configured in catalogue:
        if configured.code in known:
            continue
        fields = seed_definition(configured)
        fields.update(
            version=1,
            notice_version=1,
            accepted_notice_version=1,
            updated_at=now,
            updated_by=SEED_ACTOR,
        )
        if not insert_ignore(session, t.purposes, purpose_row(fields), ["code"]):
            continue
        purpose = require(session, configured.code)
        text_zh = SEED_NOTICES_ZH.get(purpose.code)
        if text_zh is not None:  # a built-in purpose: its notice in both languages
            insert_notice(session, purpose.code, 1, text_zh, configured.description, True, SEED_ACTOR, now)
        else:
            text = configured.description or purpose.name_zh
            insert_notice(session, purpose.code, 1, text, None, True, SEED_ACTOR, now)
        record_version(session, purpose, "seeded")
        inserted += 1
    return inserted


def as_policy_purpose(purpose: m.PurposeDef) -> Purpose:
    """The policy decision point's view of a purpose."""
    return Purpose(
        purpose.code,
        LegalBasis(purpose.legal_basis),
        purpose.consent_required,
        purpose.separate_consent_required,
        None if purpose.field_types is None else frozenset(purpose.field_types),
        purpose.retention,
        purpose.description,
    )


class LivePurposeCatalogue:
    """The database catalogue behind the :class:`PurposeCatalogue` interface, briefly cached.

    ``get`` returns active purposes only (a retired purpose is unknown to the
    policy decision point). The first use seeds the tables from ``seed_from``.
    Reads open their own session: call it before the caller's transaction
    writes (SQLite takes the write lock at BEGIN).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        seed_from: PurposeCatalogue,
        *,
        ttl: float,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._session_factory = session_factory
        self._seed_from = seed_from
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._by_code: dict[str, Purpose] | None = None
        self._loaded_at = 0.0
        self._seeded = False

    def ensure_seeded(self) -> None:
        """Add configured purposes the tables lack, once per process (own transaction)."""
        if self._seeded:
            return
        with self._session_factory() as session:
            seed(session, self._seed_from, self._clock())
            session.commit()
        self._seeded = True

    def invalidate(self) -> None:
        self._by_code = None

    def _current(self) -> dict[str, Purpose]:
        by_code = self._by_code
        if by_code is not None and time.monotonic() - self._loaded_at < self._ttl:
            return by_code
        with self._lock:
            if self._by_code is not None and time.monotonic() - self._loaded_at < self._ttl:
                return self._by_code
            self.ensure_seeded()
            with self._session_factory() as session:
                rows = all_purposes(session)
                session.rollback()
            self._by_code = {p.code: as_policy_purpose(p) for p in rows if p.active}
            self._loaded_at = time.monotonic()
            return self._by_code

    def get(self, code: str) -> Purpose | None:
        return self._current().get(code)

    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(self._current()))

    def __contains__(self, code: object) -> bool:
        return code in self._current()

    def __iter__(self) -> Iterator[Purpose]:
        return iter(sorted(self._current().values(), key=lambda p: p.code))

    def __len__(self) -> int:
        return len(self._current())
