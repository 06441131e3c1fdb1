"""An extract's input from the vault itself: the consent-backed population and its rows.

A spec column's ``source`` names what it reads (:mod:`anonymize.extract.spec`):

* the subject column (``subject_id``): the subject's opaque id;
* a field type code (``cn_resident_id``, ``cn_mobile``, ...): the subject's
  value of that type (its newest token), decrypted;
* anything else: a stored risk attribute (:mod:`privacy.attributes`).

:func:`plan` checks a spec against the vault before a job is queued: every
source exists, every field type read is covered by the purpose (a purpose
limits what its uses may read, extracts included) and allowed by the
caller's key. Dropped identifiers are never read. A direct identifier (a
field type marked ``identifying``: name, resident ID, mobile, ...) is never
released as it is (the rule of :mod:`anonymize.extract.identifiers`). The
plan says how each such column is derived, for the report.

:func:`population` decides eligibility for every subject at once through
:func:`privacy.population.eligible_subjects` (the rules of the per-request
policy decision point: erased, restricted, consent, separate consent);
:func:`rows` reads the eligible subjects in batches of :data:`BATCH`, each in
its own short transaction (which keys exist, the sealed attributes and
values), so a long extract never holds a SQLite write lock between batches;
then one batched unwrap of the batch's data keys (:meth:`vault.Keyring.unwrap`,
chunked to Transit batches; never a Vault call per value), in a helper thread
while the next batch is read, and the values opened locally. Three indexed
queries per batch: the time per subject does not grow with the vault.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from anonymize.extract import identifiers
from anonymize.extract._checks import Problems
from anonymize.extract.errors import ExtractForbidden, InvalidSpec
from anonymize.extract.population import Population
from anonymize.extract.spec import ExtractSpec, SpecDraft
from anonymize.extract.table import column_of
from fieldtypes import FieldTypeRegistry
from piivault.sql import chunked
from privacy import attributes
from privacy import model as cm
from privacy import population as privacy_population
from tokenization import tables as tt
from tokenization.tokens import TokenKind
from vault import Binding, DataKey, Keyring, StoredKeys, subject_owner

BATCH = 900  # subjects per transaction: one IN list under SQLite's old 999-parameter limit
# The role an extract's population is decided for: analysts are never a hold's role,
# so a restricted subject is always left out.
EXTRACT_ROLE = "analyst"
SUBJECT = subject_owner("")  # the owner prefix of subjects' keys, inlined on the bulk path
_k = tt.tokens.c


@dataclasses.dataclass(frozen=True)
class SourcePlan:
    """What an extract reads: the subject column, field types to decrypt, attributes to open."""

    subject_column: str
    field_types: tuple[str, ...]
    attributes: tuple[str, ...]
    sensitive: bool  # a PIPL-sensitive field type is read: a separate consent is needed
    # Column -> {"source": field type, "released_as": how}, for each column read from a direct identifier.
    identifiers: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    # The field type whose deterministic tokens join a bank's risk table (table.matches), if any.
    join_token: str | None = None


def plan(
    spec: ExtractSpec,
    purpose: cm.PurposeDef | None,
    registry: FieldTypeRegistry,
    known_attributes: Collection[str],
    *,
    allowed_purposes: Collection[str] | None = None,
    allowed_field_types: Collection[str] | None = None,
) -> SourcePlan:
    """Check ``spec`` against the vault and say what it reads.

    ``purpose`` is the catalogue entry of ``spec.purpose`` (None if there is
    none); ``allowed_*`` are the caller key's limits (None: no limit).
    Raises :class:`ExtractForbidden` when the key does not allow the purpose
    or a field type read, and :class:`InvalidSpec` naming each offending key
    (unknown or retired purpose, unknown source, a field type the purpose does
    not cover, a direct identifier released).
    """
    problems = Problems()
    planned = check(
        SpecDraft(spec.purpose, spec.columns, spec.subject_column, spec.table),
        purpose,
        registry,
        known_attributes,
        problems,
        allowed_purposes=allowed_purposes,
        allowed_field_types=allowed_field_types,
    )
    if problems:
        raise InvalidSpec(problems)
    return planned


def check(
    draft: SpecDraft,
    purpose: cm.PurposeDef | None,
    registry: FieldTypeRegistry,
    known_attributes: Collection[str],
    problems: Problems,
    *,
    allowed_purposes: Collection[str] | None = None,
    allowed_field_types: Collection[str] | None = None,
) -> SourcePlan:
    """:func:`plan`'s checks of what parsed of a spec, recorded in ``problems``; what it would read.

    A ``vet`` for :func:`~anonymize.extract.spec_parser.parse_spec`. Raises :class:`ExtractForbidden`.
    """
    if draft.purpose is not None:
        if purpose is None:
            problems.add("purpose", "no such purpose")
        elif not purpose.active:
            problems.add("purpose", "the purpose is retired")
    if purpose is not None and allowed_purposes is not None and draft.purpose not in allowed_purposes:
        raise ExtractForbidden(f"this client may not use purpose {draft.purpose}")
    field_types: list[str] = []
    names: list[str] = []
    said: dict[str, dict[str, str]] = {}
    for col in draft.columns:
        path = f"columns.{col.name}" + (".source" if col.source != col.name else "")
        if col.source == draft.subject_column or column_of(col.source) is not None:
            continue  # the subject id; or a risk table's column (anonymize.extract.table)
        if col.source in registry:
            field_type = registry.get(col.source)
            if field_type.identifying:
                released_as = identifiers.release(col)
                if released_as is None:
                    problems.add(f"columns.{col.name}", identifiers.rule(col.source))
                else:
                    said[col.name] = {"source": col.source, "released_as": released_as}
            if not col.released:
                continue  # a dropped identifier is never read
            if purpose is not None and not purpose.covers(col.source):
                problems.add(path, f"field type {col.source} is not covered by purpose {purpose.code}")
            if allowed_field_types is not None and col.source not in allowed_field_types:
                raise ExtractForbidden(f"this client may not read field type {col.source}")
            field_types.append(col.source)
        elif col.source in known_attributes:
            if col.released:
                names.append(col.source)
        else:
            problems.add(path, f"no field type or stored attribute named {col.source}")
    join_token = _join_token(draft, purpose, registry, problems, allowed_field_types)
    field_types = list(dict.fromkeys(field_types))
    sensitive = any(registry.get(code).pipl_sensitive for code in field_types)
    return SourcePlan(
        draft.subject_column,
        tuple(field_types),
        tuple(dict.fromkeys(names)),
        sensitive,
        said,
        join_token,
    )


def _join_token(
    draft: SpecDraft,
    purpose: cm.PurposeDef | None,
    registry: FieldTypeRegistry,
    problems: Problems,
    allowed_field_types: Collection[str] | None,
) -> str | None:
    """The field type whose deterministic tokens join the risk table: known, covered, allowed.

    No value is decrypted for the join (the tokens are the key), but a token
    links the subject to the bank's records of that field type: the purpose
    must cover it and the key must hold it, as if it were read.
    """
    field_type = draft.table.by_token if draft.table is not None else None
    if field_type is None:
        return None
    if field_type not in registry:
        problems.add("table.matches", "must be subject_id or a field type code")
        return None
    if purpose is not None and not purpose.covers(field_type):
        problems.add("table.matches", f"field type {field_type} is not covered by purpose {purpose.code}")
    if allowed_field_types is not None and field_type not in allowed_field_types:
        raise ExtractForbidden(f"this client may not read field type {field_type}")
    return field_type


def population(
    session_factory: sessionmaker[Session],
    purpose: cm.PurposeDef,
    source: SourcePlan,
    clock: Callable[[], dt.datetime],
) -> Callable[[str], Population]:
    """The population provider of :func:`~anonymize.extract.run_extract`: one bulk decision."""

    def provide(purpose_code: str) -> Population:
        assert purpose_code == purpose.code
        with session_factory() as session:
            decision = privacy_population.eligible_subjects(
                session, purpose, clock(), role=EXTRACT_ROLE, sensitive=source.sensitive
            )
        return Population(frozenset(decision.eligible), decision.excluded)

    return provide


def rows(
    session_factory: sessionmaker[Session], keyring: Keyring, source: SourcePlan
) -> Callable[[frozenset[str]], Iterator[pd.DataFrame]]:
    """The rows provider of :func:`~anonymize.extract.run_extract`: one DataFrame per batch.

    Each batch is read in one short transaction - which of its subjects
    still have a key, those keys (wrapped), their sealed attributes and
    values - and opened after it ends (a SQLite transaction holds the write
    lock). Reading runs one batch ahead: while Vault unwraps a batch's keys in
    a helper thread, the next batch is read, then the batch is opened. A
    subject erased before its batch is read gives no row.
    Raises VaultUnavailable, InvalidSealedValue (a tampered value), SQLAlchemy errors.
    """
    values_of = _values_statement(source.field_types) if source.field_types else None

    def read(batch: list[str]) -> _Sealed:
        with session_factory() as session:
            stored = keyring.stored_keys(session, [SUBJECT + s for s in batch])
            present = [s for s in batch if SUBJECT + s in stored]
            documents = attributes.read_sealed(session, present) if source.attributes else []
            values: Sequence[Any] = []
            if values_of is not None:
                values = session.execute(values_of, {"subjects": present}).all()
        return _Sealed(present, stored, documents, values)

    def provide(eligible: frozenset[str]) -> Iterator[pd.DataFrame]:
        ordered = sorted(eligible)
        batches = [ordered[start : start + BATCH] for start in range(0, len(ordered), BATCH)]
        if not source.attributes and not source.field_types:
            for batch in batches:
                yield pd.DataFrame({source.subject_column: batch})
            return
        if not batches:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="extract-keys") as pool:
            current = read(batches[0])
            keys = pool.submit(keyring.unwrap, current.stored)
            for following in [*batches[1:], None]:
                ahead = read(following) if following is not None else None
                ahead_keys = pool.submit(keyring.unwrap, ahead.stored) if ahead is not None else None
                yield _frame(source, current, keys.result())
                if ahead is None or ahead_keys is None:
                    break
                current, keys = ahead, ahead_keys

    return provide


def table_keys(
    session_factory: sessionmaker[Session], field_type: str
) -> Callable[[Sequence[str]], pd.DataFrame]:
    """The join keys of a risk table matched by deterministic token: ``{subject_id, key}`` per token.

    Every deterministic token of ``field_type`` the subjects hold (a value that
    changed leaves its old token: the bank may hold either); the tokens are
    read, never opened. Raises SQLAlchemy errors.
    """

    def provide(subject_ids: Sequence[str]) -> pd.DataFrame:
        found: list[Any] = []
        ordered = sorted(subject_ids)
        for chunk in chunked(ordered, BATCH):
            with session_factory() as session:
                found += session.execute(
                    sa.select(_k.subject_id, _k.token).where(
                        _k.subject_id.in_(chunk),
                        _k.field_type == field_type,
                        _k.kind == TokenKind.DETERMINISTIC.value,
                    )
                ).all()
        return pd.DataFrame(found, columns=["subject_id", "key"], dtype=object)

    return provide


@dataclasses.dataclass(frozen=True)
class _Sealed:
    """One batch as read in its transaction: the subjects with a key, still sealed."""

    subject_ids: list[str]
    stored: StoredKeys
    documents: list[tuple[str, bytes]]
    values: Sequence[Any]


def _values_statement(field_types: Collection[str]) -> sa.Select:
    """A batch's values of ``field_types`` (parameter ``subjects``), oldest first.

    ``field_type || ''`` rather than the bare column: without statistics SQLite
    would search the (field_type, blind_index) index and read every token of
    the type for every batch - quadratic in the subjects (50,000 subjects: 80 %
    of the job); the expression leaves it the subject_id index. The subjects
    are an expanding parameter, so every batch reuses one compiled statement.
    """
    return (
        sa.select(_k.subject_id, _k.field_type, _k.token, _k.sealed)
        .where(
            _k.subject_id.in_(sa.bindparam("subjects", expanding=True)),
            _k.field_type.concat("").in_(list(field_types)),
            _k.sealed.is_not(None),
        )
        .order_by(_k.created_at, _k.token)
    )


def _frame(source: SourcePlan, sealed: _Sealed, keys: dict[str, DataKey]) -> pd.DataFrame:
    """One batch, opened, as columns: the subjects, their attributes, their newest values."""
    subject_ids = sealed.subject_ids
    columns: dict[str, list[Any]] = {source.subject_column: subject_ids}
    if source.attributes:
        stored = attributes.open_sealed(keys, sealed.documents)
        empty: dict[str, Any] = {}
        held = [stored.get(s, empty) for s in subject_ids]
        for name in source.attributes:
            columns[name] = [document.get(name) for document in held]
    if source.field_types:
        found: dict[str, dict[str, str]] = {code: {} for code in source.field_types}
        for subject_id, field_type, token, value in sealed.values:  # oldest first: the newest wins
            plain = keys[SUBJECT + subject_id].open(bytes(value), Binding(subject_id, field_type, token))
            found[field_type][subject_id] = plain.decode("utf-8")
        for code in source.field_types:
            of_type = found[code]
            columns[code] = [of_type.get(s) for s in subject_ids]
    return pd.DataFrame(columns)
