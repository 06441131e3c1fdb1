"""The tokenize use case: up to 1,000 values in, a token or a per-item error each.

One request is one unit of work, committed all or none. Steps, each batched:

1. check every item (field type, kind, subject id, normalize and validate);
   a bad item gets ``{"error": {rule, message}}`` and the others go on;
   a restricted subject (PIPL art. 44) takes no new data: its items get the
   error ``restricted``, unless the request declares a purpose that one of
   the subject's holds allows the caller's role;
2. create the subjects named for the first time (implicitly), and the owners
   of standalone tokens, with all their data keys in ONE wrap call to Vault;
   existing subjects' keys come from the cache or ONE unwrap call;
3. reuse deterministic tokens that exist, draw the others, seal every value
   locally under its owner's key, bound to (owner, field type, token);
4. insert the tokens and commit them with their audit events (one per subject,
   one for the request), all or none (:func:`piivault.sql.commit_insert`): when
   the request touched nothing else in its transaction (its subjects, their keys
   and the tokenization secrets exist; no deterministic or standalone item, no
   restricted subject, no idempotency key), on PostgreSQL at READ COMMITTED one
   statement in autocommit, its read of states and keys before it in autocommit
   too, or no read when every key it needs is in the data-key cache (:func:`_held`).
   The write checks what was read or cached (:func:`_unchanged`): each subject in the
   state read, its row locked till the write commits, so a token cannot outlive an
   erasure under way; and cached keys stored still. If the check fails nothing is
   written, and the request reads everything and goes again.
   If a concurrent request inserted the same deterministic token (or a
   format-preserving draw collided), nothing is written and the work is done
   again, so racing requests end with exactly one token.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from audit.events import AuditEvent
from fieldtypes import FieldType, InvalidValue, UnknownFieldType
from piivault.db import Statement, UnitOfWork, array_values, in_array, snapshot_per_statement
from piivault.direct import direct_read
from piivault.errors import StorageUnavailable
from piivault.ids import randbelow
from piivault.sql import RowsExist, chunked, commit_insert, commits_alone, select_in
from privacy import TOKENIZE_ROLES, subjects
from privacy import tables as pt
from tokenization import idempotency
from tokenization import tables as t
from tokenization.errors import BatchTooLarge, ItemRejected, NotPermitted
from tokenization.fpe import format_preserving_token
from tokenization.model import MAX_BATCH, Caller, TokenizeItem, TokenizeResult, actor, valid_subject_id
from tokenization.tokens import (
    DeterministicScope,
    TokenKind,
    blind_index,
    deterministic_token,
    new_standalone_owner,
    random_token,
)
from vault import (
    Binding,
    DataKey,
    StoredKeys,
    stored_as,
    stored_key_rows,
    subject_owner,
    subject_owner_column,
    system_owner,
    with_stored_key,
)

if TYPE_CHECKING:
    from tokenization.service import TokenizationService

BLIND_INDEX_KEY = "blind-index"  # system data keys (vault.Keyring.system_key)
DETERMINISTIC_KEY = "deterministic-token"
MAX_ATTEMPTS = 5
PURGE_ONE_IN = 100  # expired idempotency entries are purged by about one request in this many


@dataclasses.dataclass(slots=True)
class _Item:
    index: int
    field_type: FieldType
    normalized: str
    kind: TokenKind
    subject_id: str | None  # None: a standalone token
    keep_ends: bool
    token: str = ""
    owner: str = ""  # the subject id, or the standalone owner this attempt created
    error: dict | None = None


_ERASED = ItemRejected("subject_erased", "the subject was erased").as_error()
_RESTRICTED = ItemRejected(
    "restricted",
    "the subject is restricted (PIPL art. 44): it takes no new data except for a purpose a hold allows",
).as_error()
_KINDS = {kind.value: kind for kind in TokenKind}  # a dict lookup per item, not an enum call


@dataclasses.dataclass(frozen=True, slots=True)
class _Keys:
    blind: DataKey
    deterministic: DataKey


def tokenize(
    svc: TokenizationService,
    uow: UnitOfWork,
    caller: Caller,
    items: Sequence[TokenizeItem],
    *,
    purpose: str | None = None,
    idempotency_key: str | None = None,
    request_id: str | None = None,
) -> TokenizeResult:
    """See :meth:`TokenizationService.tokenize`."""
    if caller.role not in TOKENIZE_ROLES:
        raise NotPermitted(f"role {caller.role!r} may not tokenize")
    if len(items) > MAX_BATCH:
        raise BatchTooLarge(f"at most {MAX_BATCH} items per request")
    if purpose is not None and (purpose not in svc.purposes or purpose not in caller.purposes):
        raise NotPermitted("the declared purpose is not one this client may use")
    if idempotency_key is not None:
        idempotency.check_key(idempotency_key)
    results: list[dict | None] = [None] * len(items)
    pending: list[_Item] = []
    pii_like = {
        sid for sid in {i.subject_id for i in items if i.subject_id} if svc.looks_like_identifier(sid)
    }
    for index, item in enumerate(items):
        try:
            pending.append(_prepare(svc, caller, index, item, pii_like))
        except ItemRejected as e:
            results[index] = {"error": e.as_error()}

    session = uow.session
    assert session is not None
    now = svc.clock()
    # What the data-key cache holds is checked in the write (held_check); else it is read first.
    loaded, held_check = _held(svc, uow, pending) if idempotency_key is None else (None, None)
    keys, subject_keys, states = loaded or _load_keys(svc, session, pending)
    fp = b""
    if idempotency_key is not None:
        canonical = [item.canonical() for item in items] + ([["purpose", purpose]] if purpose else [])
        fp = idempotency.fingerprint(keys.blind, "tokenize", canonical)
        stored = idempotency.replay(session, caller.client_id, idempotency_key, fp, now)
        if stored is not None:
            return TokenizeResult(stored, replayed=True)

    for attempt in range(MAX_ATTEMPTS):
        values, created, known = _write(
            svc, session, caller, purpose, pending, keys, subject_keys, states, now
        )
        for item in pending:
            results[item.index] = {"token": item.token} if item.token else {"error": item.error}
        final: list[dict] = [r for r in results if r is not None]
        if idempotency_key is not None:
            stored = _remember(session, caller, idempotency_key, fp, final, now)
            if stored is not None:
                return TokenizeResult(stored, replayed=True)
        for event in _audit_events(caller, purpose, pending, final, set(created), request_id):
            uow.record(event)
        try:
            check = _unchanged(session, values, known, created, held_check)
            if commit_insert(uow, t.tokens, values, "token", only_if=check):
                return TokenizeResult(final)
        except RowsExist:
            pass
        # A racing request won a token, or what was read or cached has changed (a subject erased
        # or restricted, a key shredded): the whole unit of work again, which sees it. (Not a
        # savepoint around each attempt: SAVEPOINT and RELEASE were two round trips on every
        # request for a race that is rare, issue 22.) What the rollback undid is read again: a
        # key created on first use in this unit of work is gone with it.
        held_check = None
        if attempt + 1 < MAX_ATTEMPTS:
            keys, subject_keys, states = _load_keys(svc, session, pending)
    raise StorageUnavailable("tokens kept colliding with concurrent requests; retry")


_Loaded = tuple[_Keys, dict[str, DataKey], dict[str, tuple[str, str]]]


def _held(
    svc: TokenizationService, uow: UnitOfWork, pending: list[_Item]
) -> tuple[_Loaded, Statement] | tuple[None, None]:
    """What :func:`_load_keys` would read, taken from the data-key cache alone, and the condition
    that the keys are stored still (each under its key id), for the write to check with the
    subjects' states (:func:`_unchanged`): a request whose keys are all cached then reads nothing
    before it writes, one round trip fewer (issue 22). The subjects are taken to be active, and
    the write checks that too; if either check fails, nothing is written and the request reads
    everything and tries again.

    (None, None) unless every key is cached and the write commits alone, and every item is for a
    named subject (a standalone token's owner is new) and not deterministic (which reads the tokens
    that exist).
    """
    if not pending or not commits_alone(uow):
        return None, None
    named: set[str] = set()
    for item in pending:
        if item.subject_id is None or item.kind is TokenKind.DETERMINISTIC:
            return None, None
        named.add(item.subject_id)
    blind, deterministic = system_owner(BLIND_INDEX_KEY), system_owner(DETERMINISTIC_KEY)
    held = svc.keyring.held([blind, deterministic, *(subject_owner(sid) for sid in sorted(named))])
    if held is None:
        return None, None
    keys = _Keys(blind=held.pop(blind), deterministic=held.pop(deterministic))
    states = {sid: (subjects.SUBJECT, subjects.ACTIVE) for sid in named}
    return (keys, held, states), stored_as([keys.blind, *held.values()])  # the deterministic key is unused


def _unchanged(
    session: Session,
    values: list[dict[str, Any]],
    known: dict[str, tuple[str, str]],
    created: list[str],
    held_check: Statement | None,
) -> Statement | None:
    """What the write of ``values`` checks (:func:`commit_insert`'s ``only_if``): each subject it
    writes for that existed before this request is in the state it was read in (or taken to be
    in), its row locked till the write commits (:func:`privacy.subjects.states_still`); and, with
    keys from the cache, ``held_check``. ``held_check`` alone (None without it) when no subject
    was read before: new ones are this request's own. None when nothing is written.

    None on SQLite, where there is nothing to check again: the whole request, its read of the
    states included, is one transaction that holds the database's write lock from its start
    (BEGIN IMMEDIATE, :func:`piivault.db.make_engine`). The check is psycopg's text."""
    if not values or session.get_bind().dialect.driver != "psycopg":
        return None
    new = set(created)
    read = {}
    for row in values:
        sid = row["subject_id"]
        if sid in known and sid not in new:
            read[sid] = known[sid][1]
    if not read:
        return held_check
    sql, params = subjects.states_still(dict(sorted(read.items())))  # rows locked in one order
    if held_check is None:
        return sql, params
    return f"{sql} AND {held_check[0]}", (*params, *held_check[1])


def _remember(
    session: Session, caller: Caller, key: str, fp: bytes, final: list[dict], now: dt.datetime
) -> list[dict] | None:
    """Keep this answer under the idempotency key, in the transaction; or, if a concurrent
    request with the same key committed first, roll back and return its answer."""
    try:
        with session.begin_nested():
            idempotency.remember(session, caller.client_id, key, fp, final, now)
    except exc.IntegrityError:
        session.rollback()
        stored = idempotency.replay(session, caller.client_id, key, fp, now)
        if stored is None:
            raise StorageUnavailable("idempotency key in use by a concurrent request") from None
        return stored
    if randbelow(PURGE_ONE_IN) == 0:
        idempotency.purge_expired(session, now)
    return None


def _load_keys(svc: TokenizationService, session: Session, pending: list[_Item]) -> _Loaded:
    """Both tokenization secrets (created on first use), the named subjects' (kind, state)
    and their data keys, in one query: a single-value request pays one round trip for all
    of it (the subjects' states were a second query, issue 22)."""
    blind, deterministic = system_owner(BLIND_INDEX_KEY), system_owner(DETERMINISTIC_KEY)
    named = sorted({i.subject_id for i in pending if i.subject_id is not None})
    stored: StoredKeys = {}
    states: dict[str, tuple[str, str]] = {}
    for owner, kind, state, key_id, wrapped in _key_and_state_rows(session, [blind, deterministic], named):
        if kind is not None:  # a subject's row (a system key's has no kind)
            states[owner] = (kind, state)
            owner = subject_owner(owner)
        if key_id is not None:
            stored[owner] = (key_id, wrapped)
    found = svc.keyring.unwrap(stored)
    keys = _Keys(
        blind=found.pop(blind, None) or svc.keyring.system_key(session, BLIND_INDEX_KEY),
        deterministic=found.pop(deterministic, None) or svc.keyring.system_key(session, DETERMINISTIC_KEY),
    )
    return keys, found, states


def _key_and_state_rows(session: Session, system: list[str], named: list[str]) -> list[Any]:
    """(owner, kind, state, key id, wrapped key): a row per system key that exists (kind and
    state NULL) and per named subject that exists (its key's columns NULL once shredded)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        params = {"system": system, "subjects": named}
        # With psycopg, through the driver (piivault.direct). At READ COMMITTED in autocommit,
        # before the unit of work begins anything, where a read in its transaction would see
        # no more: a request that then writes only its tokens commits them in one statement
        # (commit_insert). Else on the session's connection, in its transaction.
        direct = direct_read(_keys_and_states(True), bind.engine)
        if direct is None:
            return list(session.execute(_keys_and_states(True), params))
        if snapshot_per_statement(bind.engine):
            return direct.all(params)
        return direct.all_on(session.connection(), params)
    rows: list[Any] = []
    chunks = list(chunked(named)) or [[]]  # one IN list each, under SQLite's parameter limit
    for i, chunk in enumerate(chunks):
        params = {"system": system if i == 0 else [], "subjects": list(chunk)}
        rows += session.execute(_keys_and_states(False), params).all()
    return rows


@functools.cache
def _keys_and_states(postgresql: bool) -> sa.CompoundSelect:
    """The statement of :func:`_key_and_state_rows`, built once (like the keyring's): one
    built per request is built and hashed for SQLAlchemy's statement cache every time."""
    s = pt.subjects.c
    text = sa.String()
    if postgresql:
        # Both lists as arrays: an expanding parameter is rendered anew at every execution.
        where = in_array(s.subject_id, "subjects")
        system_owners: sa.Select[Any] | sa.BindParameter[Any] = array_values("system", text)
    else:
        where = s.subject_id.in_(sa.bindparam("subjects", expanding=True))
        system_owners = sa.bindparam("system", expanding=True)
    system = stored_key_rows(system_owners, sa.cast(sa.null(), text), sa.cast(sa.null(), text))
    named = sa.select(s.subject_id, s.kind, s.state).select_from(pt.subjects).where(where)
    return sa.union_all(system, with_stored_key(named, subject_owner_column(s.subject_id)))


def _prepare(
    svc: TokenizationService, caller: Caller, index: int, item: TokenizeItem, pii_like: set[str]
) -> _Item:
    """Check one item; raises :class:`ItemRejected`."""
    try:
        field_type = svc.field_types.get(item.field_type)
    except UnknownFieldType:
        raise ItemRejected("field_type", "unknown field type") from None
    if caller.field_types is not None and field_type.code not in caller.field_types:
        raise ItemRejected("field_type_not_allowed", "this client may not tokenize this field type")
    kind = _KINDS.get(item.kind) if isinstance(item.kind, str) else None
    if kind is None:
        raise ItemRejected("kind", "kind must be random, deterministic or format_preserving")
    if kind is TokenKind.FORMAT_PRESERVING and field_type.fpe is None:
        raise ItemRejected("kind", "format-preserving tokens are not available for this field type")
    if item.subject_id is not None:
        if not valid_subject_id(item.subject_id):
            raise ItemRejected(
                "subject_id", "subject_id must be 8-64 letters, digits, '_' or '-' (not starting 'std_')"
            )
        if item.subject_id in pii_like:
            raise ItemRejected("subject_id", "subject_id looks like a personal identifier: use an opaque id")
        if kind is TokenKind.DETERMINISTIC and svc.deterministic_scope is DeterministicScope.GLOBAL:
            raise ItemRejected(
                "scope", "deterministic tokens are global here and stand alone: omit subject_id"
            )
    try:
        normalized = field_type.normalize_and_validate(item.value)
    except InvalidValue as e:
        raise ItemRejected(e.rule, e.message) from None
    return _Item(index, field_type, normalized, kind, item.subject_id, item.keep_ends)


def _write(
    svc: TokenizationService,
    session: Session,
    caller: Caller,
    purpose: str | None,
    pending: list[_Item],
    keys: _Keys,
    subject_keys: dict[str, DataKey],
    states: dict[str, tuple[str, str]],
    now: dt.datetime,
) -> tuple[list[dict[str, Any]], list[str], dict[str, tuple[str, str]]]:
    """One attempt at steps 2-3: the token rows to insert, the subjects created, and the
    (kind, state) of every named subject as this attempt knows it.

    ``subject_keys`` holds the keys of the subjects that had one before this request,
    ``states`` the (kind, state) of those that existed then.
    """
    for item in pending:
        item.token = item.owner = ""
        item.error = None
    named = sorted({i.subject_id for i in pending if i.subject_id is not None})
    known = dict(states)
    created: list[str] = []
    unknown = [sid for sid in named if sid not in known]
    if unknown:  # created now, or by a concurrent request since the states were read
        found, created = subjects.ensure(session, unknown, now)
        known.update(found)
    live = [sid for sid in named if known[sid][1] != subjects.ERASED]
    # Restriction stops new collection; a hold may let this role go on for the declared purpose.
    restricted = {
        sid
        for sid in live
        if known[sid][1] == subjects.RESTRICTED
        and (purpose is None or not svc.restriction_exempt(session, sid, purpose, caller.role))
    }
    new_owners: set[str] = set(created)

    existing = _existing_deterministic(session, pending, keys)
    rows: dict[str, _Item] = {}
    for item in pending:
        if item.subject_id is not None and item.subject_id not in live:
            item.error = _ERASED
            continue
        if item.subject_id in restricted:
            item.error = _RESTRICTED
            continue
        if item.kind is TokenKind.DETERMINISTIC:
            token = _deterministic(keys, item)
            if token in existing or token in rows:  # held already, or twice in this batch
                item.token = token
                continue
        else:
            try:
                token = _draw(item, rows)
            except ItemRejected as e:
                item.error = e.as_error()
                continue
        if item.subject_id is None:
            item.owner = new_standalone_owner()
            new_owners.add(item.owner)
        else:
            item.owner = item.subject_id
        item.token = token
        rows[token] = item

    standalone = sorted(new_owners.difference(created))
    subjects.insert(session, standalone, subjects.STANDALONE, now)
    # Every new data key in one wrap call; the others from the cache or one unwrap call.
    data_keys = svc.keyring.create_keys(session, [subject_owner(o) for o in sorted(new_owners)])
    data_keys.update(subject_keys)
    # A subject another request created since the keys were loaded: its key is not loaded yet.
    unloaded = [subject_owner(s) for s in live if s not in new_owners and subject_owner(s) not in data_keys]
    data_keys.update(svc.keyring.data_keys(session, unloaded))
    values = []
    for token, item in rows.items():
        key = data_keys.get(subject_owner(item.owner))
        if key is None:  # shredded without its state recorded: erased all the same
            continue
        code = item.field_type.code
        values.append(
            {
                "token": token,
                "kind": item.kind.value,
                "field_type": code,
                "subject_id": item.owner,
                "sealed": key.seal(item.normalized.encode("utf-8"), Binding(item.owner, code, token)),
                "blind_index": blind_index(keys.blind, code, item.normalized),
                "created_at": now,
            }
        )
    inserted = {row["token"] for row in values}
    for item in pending:
        if item.token and item.token not in inserted and not existing.get(item.token, False):
            item.token = ""  # an erased deterministic token, or its owner's key is gone
            item.error = _ERASED
    return values, created, known


def _draw(item: _Item, drawn: dict[str, _Item]) -> str:
    """A random or format-preserving token not drawn already in this batch.

    Raises :class:`ItemRejected` when no format-preserving token can be found.
    """
    for _ in range(MAX_ATTEMPTS):
        if item.kind is TokenKind.FORMAT_PRESERVING:
            token = format_preserving_token(item.field_type, item.normalized, keep_ends=item.keep_ends)
        else:
            token = random_token(item.field_type.code)
        if token not in drawn:
            return token
    raise ItemRejected("format_preserving", "no unused format-preserving token was found for this value")


def _deterministic(keys: _Keys, item: _Item) -> str:
    scope = "global" if item.subject_id is None else "subject:" + item.subject_id
    return deterministic_token(keys.deterministic, item.field_type.code, scope, item.normalized)


def _existing_deterministic(session: Session, pending: list[_Item], keys: _Keys) -> dict[str, bool]:
    """token -> whether it still has its value, for the deterministic tokens that exist."""
    wanted = {_deterministic(keys, i) for i in pending if i.kind is TokenKind.DETERMINISTIC}
    if not wanted:
        return {}
    c = t.tokens.c
    rows = select_in(session, [c.token, c.sealed.is_not(None)], c.token, wanted)
    return {token: bool(live) for token, live in rows}


def _audit_events(
    caller: Caller,
    purpose: str | None,
    pending: list[_Item],
    results: list[dict],
    created: set[str],
    request_id: str | None,
) -> list[AuditEvent]:
    """One event per subject (which field types, how many), one for the request as a whole."""
    by_subject: dict[str, list[_Item]] = defaultdict(list)
    for item in pending:
        if item.token and item.subject_id is not None:
            by_subject[item.subject_id].append(item)
    who = actor(caller)
    events = [
        AuditEvent(
            action="tokenize",
            actor=who,
            subject_id=sid,
            purpose=purpose,
            field_types=tuple(sorted({i.field_type.code for i in items})),
            request_id=request_id,
            details={"tokens": len(items), "subject_created": sid in created},
        )
        for sid, items in sorted(by_subject.items())
    ]
    tokens = sum(1 for r in results if "token" in r)
    kinds = Counter(i.kind.value for i in pending if i.token)
    events.append(
        AuditEvent(
            action="tokenize",
            actor=who,
            outcome="success" if tokens or not results else "error",
            purpose=purpose,
            field_types=tuple(sorted({i.field_type.code for i in pending if i.token})),
            request_id=request_id,
            details={
                "items": len(results),
                "tokens": tokens,
                "rejected": len(results) - tokens,
                "standalone": sum(1 for i in pending if i.token and i.subject_id is None),
                "subjects": len(by_subject),
                "kinds": dict(sorted(kinds.items())),
            },
        )
    )
    return events
