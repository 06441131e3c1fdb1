"""The purpose catalogue in the database: purposes, their versions and their notices.

The configured catalogue seeds the tables (:mod:`privacy.catalogue`); from then
on the DPO manages a purpose through the API and every change is a new version in
``consent_purpose_versions``.
Publishing a notice adds a version to ``consent_notices``; a *material* change
moves the purpose's accepted notice version, so consents given under older
notices need reconsent (and count meanwhile only with ``reconsent_grace``).

Functions taking a ``session`` run inside the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.canonical import canonical_json
from piivault.sql import insert_ignore
from privacy import model as m
from privacy import tables as t
from privacy.errors import InvalidConsent, NoticeNotFound, PurposeNotFound

UPDATABLE = frozenset(
    {
        "name_zh",
        "name_en",
        "legal_basis",
        "consent_required",
        "separate_consent_required",
        "separate_grounds",
        "third_parties",
        "field_types",
        "retention",
        "retention_anchor",
        "retention_years",
        "hold_roles",
        "description",
        "reconsent_grace",
        "retired",
    }
)


# -- reading ------------------------------------------------------------------
def _from_row(row: Any) -> m.PurposeDef:
    return m.PurposeDef(
        code=row.code,
        version=row.version,
        name_zh=row.name_zh,
        name_en=row.name_en,
        legal_basis=row.legal_basis,
        consent_required=bool(row.consent_required),
        separate_consent_required=bool(row.separate_consent_required),
        separate_grounds=m.load_list(row.separate_grounds) or (),
        third_parties=m.load_list(row.third_parties) or (),
        field_types=m.load_list(row.field_types),
        retention=row.retention,
        retention_anchor=row.retention_anchor,
        retention_years=row.retention_years,
        hold_roles=m.load_list(row.hold_roles) or (),
        description=row.description,
        notice_version=row.notice_version,
        accepted_notice_version=row.accepted_notice_version,
        reconsent_grace=bool(row.reconsent_grace),
        retired_at=row.retired_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def get(session: Session, code: str, *, lock: bool = False) -> m.PurposeDef | None:
    """The purpose ``code`` (retired ones included), or None."""
    stmt = sa.select(t.purposes).where(t.purposes.c.code == code)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.execute(stmt).first()
    return None if row is None else _from_row(row)


def require(session: Session, code: str, *, lock: bool = False) -> m.PurposeDef:
    """The purpose ``code``; raises :class:`PurposeNotFound`."""
    purpose = get(session, code, lock=lock)
    if purpose is None:
        raise PurposeNotFound("no such purpose")
    return purpose


def all_purposes(session: Session) -> list[m.PurposeDef]:
    return [_from_row(r) for r in session.execute(sa.select(t.purposes).order_by(t.purposes.c.code))]


def history(session: Session, code: str) -> list[dict[str, Any]]:
    """Every version of a purpose, oldest first. Raises :class:`PurposeNotFound`."""
    require(session, code)
    v = t.purpose_versions.c
    rows = session.execute(
        sa.select(v.version, v.change, v.definition, v.changed_at, v.changed_by)
        .where(v.code == code)
        .order_by(v.version)
    )
    return [
        {
            "version": r.version,
            "change": r.change,
            "definition": json.loads(r.definition),
            "changed_at": r.changed_at,
            "changed_by": r.changed_by,
        }
        for r in rows
    ]


def notices(session: Session, code: str) -> list[dict[str, Any]]:
    """Every notice of a purpose, oldest first. Raises :class:`PurposeNotFound`."""
    require(session, code)
    n = t.notices.c
    rows = session.execute(sa.select(t.notices).where(n.purpose_code == code).order_by(n.version))
    return [_notice(r) for r in rows]


def notice(session: Session, code: str, version: int) -> dict[str, Any]:
    """One notice version. Raises :class:`PurposeNotFound`, :class:`NoticeNotFound`."""
    require(session, code)
    n = t.notices.c
    row = session.execute(sa.select(t.notices).where(n.purpose_code == code, n.version == version)).first()
    if row is None:
        raise NoticeNotFound("no such notice version")
    return _notice(row)


def _notice(row: Any) -> dict[str, Any]:
    return {
        "purpose": row.purpose_code,
        "version": row.version,
        "text_zh": row.text_zh,
        "text_en": row.text_en,
        "material": bool(row.material),
        "text_hash": row.text_hash,
        "published_at": row.published_at,
        "published_by": row.published_by,
    }


# -- validation ---------------------------------------------------------------
def _fail(message: str) -> InvalidConsent:
    return InvalidConsent(message)


def _strings(value: Any, name: str, allowed: Collection[str] | None = None, limit: int = 64) -> tuple:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise _fail(f"{name} must be a list of strings")
    if len(value) > limit:
        raise _fail(f"{name} takes at most {limit} entries")
    if allowed is not None:
        unknown = sorted(v for v in value if v not in allowed)
        if unknown:
            # Codes from a fixed vocabulary or the field-type registry, never personal data.
            raise _fail(
                f"{name}: unknown {unknown[0]!r}" if len(unknown[0]) <= 64 else f"{name}: unknown entry"
            )
    return tuple(dict.fromkeys(value))


def _checked(fields: dict[str, Any], field_types: Collection[str] | None) -> dict[str, Any]:
    """Check a complete purpose definition; return it normalized. Raises InvalidConsent."""
    if not isinstance(fields.get("code"), str) or not m.CODE.fullmatch(fields["code"]):
        raise _fail("code must be 2-64 lowercase letters, digits or '_', starting with a letter")
    for name in ("name_zh", "name_en"):
        value = fields.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > m.MAX_NAME:
            raise _fail(f"{name} must be 1-{m.MAX_NAME} characters")
    if fields.get("legal_basis") not in m.LEGAL_BASES:
        raise _fail(f"legal_basis must be one of: {', '.join(m.LEGAL_BASES)}")
    for name in ("consent_required", "separate_consent_required", "reconsent_grace"):
        if not isinstance(fields.get(name), bool):
            raise _fail(f"{name} must be true or false")
    if fields["legal_basis"] == "consent" and not fields["consent_required"]:
        raise _fail("a purpose whose legal basis is consent must require consent")
    grounds = _strings(fields.get("separate_grounds", ()), "separate_grounds", m.SEPARATE_GROUNDS)
    if fields["separate_consent_required"] and not fields["consent_required"]:
        raise _fail("separate consent is only meaningful when consent is required")
    if fields["separate_consent_required"] and not grounds:
        raise _fail("separate_grounds must say why a separate consent is needed")
    if grounds and not fields["separate_consent_required"]:
        raise _fail("separate_grounds given, but separate_consent_required is false")
    third = _strings(fields.get("third_parties", ()), "third_parties", limit=32)
    if any(len(x) > m.MAX_NAME for x in third):
        raise _fail(f"third_parties entries must be at most {m.MAX_NAME} characters")
    types = fields.get("field_types")
    if types is not None:
        types = _strings(types, "field_types", field_types, limit=256)
        if not types:
            raise _fail("field_types must name at least one field type (or be null for all)")
    retention = fields.get("retention")
    if not isinstance(retention, str) or not retention.strip() or len(retention) > m.MAX_NAME:
        raise _fail(f"retention must say how long data is kept (1-{m.MAX_NAME} characters)")
    anchor, years = fields.get("retention_anchor"), fields.get("retention_years")
    if anchor is not None and anchor not in m.RETENTION_ANCHORS:
        raise _fail(f"retention_anchor must be one of: {', '.join(m.RETENTION_ANCHORS)}")
    if (anchor is None) != (years is None):
        raise _fail("retention_anchor and retention_years go together")
    if years is not None and (type(years) is not int or not 1 <= years <= 100):
        raise _fail("retention_years must be an integer from 1 to 100")
    hold_roles = _strings(fields.get("hold_roles", ()), "hold_roles", m.HOLD_ROLES)
    description = fields.get("description", "")
    if not isinstance(description, str) or len(description) > m.MAX_TEXT:
        raise _fail(f"description must be at most {m.MAX_TEXT} characters")
    return {
        **fields,
        "separate_grounds": grounds,
        "third_parties": third,
        "field_types": types,
        "hold_roles": hold_roles,
        "description": description,
    }


def _notice_texts(text_zh: Any, text_en: Any) -> tuple[str, str | None]:
    if not isinstance(text_zh, str) or not text_zh.strip() or len(text_zh) > m.MAX_TEXT:
        raise _fail(f"the notice needs text_zh, 1-{m.MAX_TEXT} characters")
    if text_en is not None and (not isinstance(text_en, str) or len(text_en) > m.MAX_TEXT):
        raise _fail(f"text_en must be at most {m.MAX_TEXT} characters")
    return text_zh, text_en or None


# -- writing ------------------------------------------------------------------
def purpose_row(fields: dict[str, Any]) -> dict[str, Any]:
    """A checked definition as a ``consent_purposes`` row (JSON lists serialized)."""
    return {
        "code": fields["code"],
        "version": fields["version"],
        "name_zh": fields["name_zh"],
        "name_en": fields["name_en"],
        "legal_basis": fields["legal_basis"],
        "consent_required": fields["consent_required"],
        "separate_consent_required": fields["separate_consent_required"],
        "separate_grounds": m.dump_list(fields["separate_grounds"]),
        "third_parties": m.dump_list(fields["third_parties"]),
        "field_types": m.dump_list(sorted(fields["field_types"]) if fields["field_types"] else None),
        "retention": fields["retention"],
        "retention_anchor": fields.get("retention_anchor"),
        "retention_years": fields.get("retention_years"),
        "hold_roles": m.dump_list(fields["hold_roles"]),
        "description": fields["description"],
        "notice_version": fields["notice_version"],
        "accepted_notice_version": fields["accepted_notice_version"],
        "reconsent_grace": fields["reconsent_grace"],
        "retired_at": fields.get("retired_at"),
        "updated_at": fields["updated_at"],
        "updated_by": fields["updated_by"],
    }


def record_version(session: Session, purpose: m.PurposeDef, change: str) -> None:
    """Keep ``purpose`` as it now stands in its history (``consent_purpose_versions``)."""
    session.execute(
        t.purpose_versions.insert().values(
            code=purpose.code,
            version=purpose.version,
            change=change,
            definition=canonical_json(purpose.definition()).decode("utf-8"),
            changed_at=purpose.updated_at,
            changed_by=purpose.updated_by,
        )
    )


def insert_notice(
    session: Session,
    code: str,
    version: int,
    text_zh: str,
    text_en: str | None,
    material: bool,
    actor: str,
    now: dt.datetime,
) -> None:
    """Add notice ``version`` of purpose ``code`` (its texts' hash kept with it)."""
    session.execute(
        t.notices.insert().values(
            purpose_code=code,
            version=version,
            text_zh=text_zh,
            text_en=text_en,
            material=material,
            text_hash=m.text_hash(text_zh, text_en),
            published_at=now,
            published_by=actor,
        )
    )


def create(
    session: Session,
    spec: Mapping[str, Any],
    actor: str,
    now: dt.datetime,
    field_types: Collection[str] | None = None,
) -> m.PurposeDef:
    """Create a purpose with its first notice (``spec["notice"]``: text_zh, text_en).

    Raises :class:`InvalidConsent` for a bad definition and
    :class:`ConsentConflict` if the code exists.
    """
    from privacy.errors import ConsentConflict

    spec = dict(spec)
    notice_spec = spec.pop("notice", None) or {}
    text_zh, text_en = _notice_texts(notice_spec.get("text_zh"), notice_spec.get("text_en"))
    basis = spec.get("legal_basis")
    spec.setdefault("consent_required", basis == "consent")
    spec.setdefault("separate_consent_required", False)
    spec.setdefault("reconsent_grace", False)
    spec.setdefault("hold_roles", list(m.HOLD_ROLES) if spec.get("retention_anchor") else [])
    unknown = sorted(set(spec) - UPDATABLE - {"code"})
    if unknown:
        raise _fail(f"unknown purpose field {unknown[0]!r}" if len(unknown[0]) <= 64 else "unknown field")
    if spec.pop("retired", False):
        raise _fail("a new purpose cannot be retired")
    fields = _checked(spec, field_types)
    fields.update(version=1, notice_version=1, accepted_notice_version=1, updated_at=now, updated_by=actor)
    if not insert_ignore(session, t.purposes, purpose_row(fields), ["code"]):
        raise ConsentConflict("a purpose with this code exists")
    purpose = require(session, fields["code"])
    insert_notice(session, purpose.code, 1, text_zh, text_en, True, actor, now)
    record_version(session, purpose, "created")
    return purpose


def update(
    session: Session,
    code: str,
    changes: Mapping[str, Any],
    actor: str,
    now: dt.datetime,
    field_types: Collection[str] | None = None,
) -> tuple[m.PurposeDef, bool]:
    """Change a purpose; returns (the purpose, whether anything changed).

    A change is a new version; the old one stays in the history. Raises
    :class:`PurposeNotFound`, :class:`InvalidConsent`.
    """
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise _fail(f"unknown purpose field {unknown[0]!r}" if len(unknown[0]) <= 64 else "unknown field")
    current = require(session, code, lock=True)
    fields = {**current.definition(), "retired_at": current.retired_at}
    for key, value in changes.items():
        if key == "retired":
            if not isinstance(value, bool):
                raise _fail("retired must be true or false")
            fields["retired_at"] = (current.retired_at or now) if value else None
        else:
            fields[key] = value
    fields.pop("retired", None)
    fields.pop("version", None)
    checked = _checked(fields, field_types)
    before = current.definition()
    candidate = dataclasses.replace(
        current,
        **{k: checked[k] for k in UPDATABLE - {"retired"}},
        retired_at=checked["retired_at"],
    )
    if candidate.definition() == before:
        return current, False
    updated = dataclasses.replace(candidate, version=current.version + 1, updated_at=now, updated_by=actor)
    row = purpose_row(
        {**updated.definition(), "retired_at": updated.retired_at, "updated_at": now, "updated_by": actor}
    )
    session.execute(t.purposes.update().where(t.purposes.c.code == code).values(**row))
    change = "retired" if updated.retired_at and not current.retired_at else "updated"
    record_version(session, updated, change)
    return updated, True


def publish_notice(
    session: Session,
    code: str,
    text_zh: Any,
    text_en: Any,
    material: bool,
    actor: str,
    now: dt.datetime,
) -> tuple[m.PurposeDef, dict[str, Any]]:
    """Publish the next notice version; a material one requires reconsent of older consents.

    Raises :class:`PurposeNotFound`, :class:`InvalidConsent` (texts, a retired purpose).
    """
    text_zh, text_en = _notice_texts(text_zh, text_en)
    if not isinstance(material, bool):
        raise _fail("material must be true or false")
    current = require(session, code, lock=True)
    if not current.active:
        raise _fail("the purpose is retired")
    version = current.notice_version + 1
    insert_notice(session, code, version, text_zh, text_en, material, actor, now)
    updated = dataclasses.replace(
        current,
        version=current.version + 1,
        notice_version=version,
        accepted_notice_version=version if material else current.accepted_notice_version,
        updated_at=now,
        updated_by=actor,
    )
    session.execute(
        t.purposes.update()
        .where(t.purposes.c.code == code)
        .values(
            version=updated.version,
            notice_version=updated.notice_version,
            accepted_notice_version=updated.accepted_notice_version,
            updated_at=now,
            updated_by=actor,
        )
    )
    record_version(session, updated, "notice")
    return updated, notice(session, code, version)


# -- four eyes on widening ----------------------------------------------------
def widening(before: m.PurposeDef, after: m.PurposeDef) -> list[str]:
    """How a change from ``before`` to ``after`` widens access (empty: it does not).

    Widening: field types added (or every field type), a legal basis other than
    consent, consent or separate consent no longer required, consents under older
    notices counting again (``reconsent_grace``), more third parties, more roles
    under a retention hold, a retired purpose made active again. Everything else
    (names, texts, retention, narrowing) applies at once.
    """
    found: list[str] = []
    if before.field_types is not None and (
        after.field_types is None or not set(after.field_types) <= set(before.field_types)
    ):
        found.append("field_types")  # None is every field type
    if after.legal_basis != before.legal_basis and after.legal_basis != "consent":
        found.append("legal_basis")
    if before.consent_required and not after.consent_required:
        found.append("consent_required")
    if before.separate_consent_required and not after.separate_consent_required:
        found.append("separate_consent_required")
    if after.reconsent_grace and not before.reconsent_grace:
        found.append("reconsent_grace")
    if not set(after.third_parties) <= set(before.third_parties):
        found.append("third_parties")
    if not set(after.hold_roles) <= set(before.hold_roles):
        found.append("hold_roles")
    if after.active and not before.active:
        found.append("retired")
    return found


def definition_digest(purpose: m.PurposeDef) -> str:
    """``sha256:<hex>`` of a purpose's whole definition (code and version included): what a
    ``purpose.widen`` approval is bound to."""
    import hashlib

    return "sha256:" + hashlib.sha256(canonical_json(purpose.definition())).hexdigest()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
