"""Subjects' risk attributes: what risk models use besides identifiers (age, income, credit grade...).

Stored per subject as one JSON document sealed under the subject's data key
(:meth:`vault.DataKey.seal`, bound to the subject), so erasing the subject
(crypto-shredding its key) erases them too, and read back in batches with the
subject keys an extract has unwrapped anyway. The names stored so far are
kept apart, without values, so a spec naming an unknown attribute is refused
before any job runs.

Functions run inside the caller's transaction and audit nothing; the extract
service wraps them in use cases.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fieldtypes import FieldTypeRegistry
from piivault.sql import chunked
from privacy import tables as t
from privacy.errors import InvalidAttributes
from vault import Binding, DataKey, subject_owner

NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_ATTRIBUTES = 64
MAX_TEXT = 200
BINDING_FIELD = "risk_attributes"
BINDING_RECORD = "v1"
_a = t.subject_attributes.c
# An expanding parameter: one cached statement for every batch (see vault.keystore._KEY_ROWS).
_SEALED_OF = sa.select(_a.subject_id, _a.sealed).where(
    _a.subject_id.in_(sa.bindparam("subjects", expanding=True))
)
SUBJECT = subject_owner("")  # the owner prefix of subjects' keys, inlined on the bulk path

Value = str | int | float | bool | None


def validate(attributes: Any, reserved: Collection[str], where: str = "attributes") -> dict[str, Value]:
    """The attributes as stored: a mapping of names to scalars (text of at most 200 characters).

    ``reserved`` names (field type codes, the subject column) are refused: a
    spec column of that name reads the identifier, never the attribute.
    Raises :class:`InvalidAttributes` naming the attribute and the rule, never its value.
    """
    if not isinstance(attributes, Mapping) or not attributes:
        raise InvalidAttributes(f"{where}: must be a non-empty mapping of name -> value")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidAttributes(f"{where}: at most {MAX_ATTRIBUTES} attributes")
    out: dict[str, Value] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise InvalidAttributes(f"{where}: names are lowercase letters, digits and _ (at most 64)")
        if name in reserved:
            raise InvalidAttributes(
                f"{where}.{name}: is a field type or the subject column, not an attribute"
            )
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise InvalidAttributes(f"{where}.{name}: text must be at most {MAX_TEXT} characters")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidAttributes(f"{where}.{name}: must be a finite number")
        elif value is not None and not isinstance(value, bool | int):
            raise InvalidAttributes(f"{where}.{name}: must be text, a number, true/false or null")
        out[name] = value
    return out


def _binding(subject_id: str) -> Binding:
    return Binding(subject_id, BINDING_FIELD, BINDING_RECORD)


def store(
    session: Session,
    keys: Mapping[str, DataKey],
    documents: Mapping[str, Mapping[str, Value]],
    now: dt.datetime,
) -> None:
    """Replace the attributes of each subject (``subject id -> attributes``), sealed under its key.

    ``keys`` maps subject owners (:func:`vault.subject_owner`) to their data keys.
    """
    rows = [
        {
            "subject_id": subject_id,
            "sealed": keys[subject_owner(subject_id)].seal(_encode(attributes), _binding(subject_id)),
            "updated_at": now,
        }
        for subject_id, attributes in documents.items()
    ]
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(t.subject_attributes)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["subject_id"],
            set_={"sealed": stmt.excluded.sealed, "updated_at": stmt.excluded.updated_at},
        ),
        rows,
    )
    names = sorted({name for attributes in documents.values() for name in attributes})
    known = known_names(session)
    new = [{"name": name, "first_seen_at": now} for name in names if name not in known]
    if new:
        session.execute(
            dialect.insert(t.attribute_names).on_conflict_do_nothing(index_elements=["name"]), new
        )


def _encode(attributes: Mapping[str, Value]) -> bytes:
    return json.dumps(dict(attributes), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def read(
    session: Session, keys: Mapping[str, DataKey], subject_ids: Iterable[str]
) -> dict[str, dict[str, Value]]:
    """The stored attributes of the subjects whose key is in ``keys`` (others, and those without any, absent).

    Raises :class:`vault.InvalidSealedValue` for a tampered document.
    """
    wanted = [s for s in subject_ids if subject_owner(s) in keys]
    return open_sealed(keys, read_sealed(session, wanted))


def read_sealed(session: Session, subject_ids: Sequence[str]) -> list[tuple[str, bytes]]:
    """``(subject id, sealed document)`` of the subjects that have attributes, still sealed."""
    found: list[tuple[str, bytes]] = []
    for chunk in chunked(subject_ids):
        found.extend(session.execute(_SEALED_OF, {"subjects": chunk}))
    return found


def open_sealed(
    keys: Mapping[str, DataKey], sealed: Iterable[tuple[str, bytes]]
) -> dict[str, dict[str, Value]]:
    """Open documents read by :func:`read_sealed` (those whose key is not in ``keys`` are skipped).

    Raises :class:`vault.InvalidSealedValue` for a tampered document.
    """
    out: dict[str, dict[str, Value]] = {}
    loads = json.loads
    for subject_id, document in sealed:
        key = keys.get(SUBJECT + subject_id)
        if key is not None:
            binding = Binding(subject_id, BINDING_FIELD, BINDING_RECORD)
            out[subject_id] = loads(key.open(bytes(document), binding))
    return out


def delete(session: Session, subject_ids: Sequence[str]) -> int:
    """Delete the subjects' stored attributes (erasure: their key is shredded as well); how many."""
    removed = 0
    for chunk in chunked(subject_ids):
        done = session.execute(t.subject_attributes.delete().where(_a.subject_id.in_(chunk)))
        removed += done.rowcount or 0
    return removed


def known_names(session: Session) -> set[str]:
    """Every attribute name stored so far."""
    return set(session.scalars(sa.select(t.attribute_names.c.name)))


@dataclasses.dataclass(frozen=True)
class AttributeStore:
    """One subject's risk attributes, as the data-subject rights of :mod:`consent` need them.

    The access package shows the attributes, a correction request changes
    them, extracts read them in batches. ``reserved``: names an attribute may
    not have (field type codes, the subject column): :func:`attribute_store`
    gives the store of a field type registry. Runs in the caller's transaction
    and audits nothing.
    """

    reserved: frozenset[str]

    def of_subject(
        self, session: Session, key: DataKey, subject_id: str
    ) -> tuple[dict[str, Value], dt.datetime] | None:
        """The subject's attributes, opened, and when they were stored; None if it has none.

        Raises :class:`vault.InvalidSealedValue` for a tampered document.
        """
        row = session.execute(sa.select(_a.sealed, _a.updated_at).where(_a.subject_id == subject_id)).first()
        if row is None:
            return None
        return json.loads(key.open(bytes(row.sealed), _binding(subject_id))), row.updated_at

    def correct(
        self,
        session: Session,
        key: DataKey,
        subject_id: str,
        changes: Sequence[tuple[str, str, Any]],
        now: dt.datetime,
    ) -> list[str]:
        """Set attributes of the subject (``(where, name, new value)`` each; ``where`` names the
        item in errors); return the names set. A name not stored yet is added (PIPL art. 46:
        correction and completion).

        The document is sealed again as a whole: the old values are gone, except
        from backups taken before, which erasing the subject shreds too. Raises
        :class:`InvalidAttributes` naming the item and the rule, never a value.
        """
        current = self.of_subject(session, key, subject_id)
        document: dict[str, Any] = dict(current[0]) if current is not None else {}
        names: list[str] = []
        for where, name, value in changes:
            if name in names:
                raise InvalidAttributes(f"{where}.attribute: {name} is corrected twice")
            validate({name: value}, self.reserved, where)
            document[name] = value
            names.append(name)
        store(session, {subject_owner(subject_id): key}, {subject_id: validate(document, self.reserved)}, now)
        return names


def attribute_store(field_types: FieldTypeRegistry) -> AttributeStore:
    """The store whose attribute names may not be a field type's code or the subject column."""
    return AttributeStore(frozenset({*field_types.codes(), "subject_id"}))
