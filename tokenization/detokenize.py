"""The detokenize use case: tokens in, for each a value, a masked value, or why not.

Every token gets its own policy decision (:func:`privacy.decide`),
including the tokens of erased subjects, known by their tombstones;
every decision, allowed or denied, is audited in the transaction that returns
the values, grouped into one event per (subject, outcome, reason). The data
keys of all the subjects involved come from the cache or ONE unwrap call.
Values are opened only for tokens the policy allows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.events import AuditEvent
from fieldtypes import FieldType, UnknownFieldType
from piivault.db import UnitOfWork, in_array, snapshot_per_statement
from piivault.direct import direct_read
from piivault.sql import chunked
from privacy import (
    DETOKENIZE_ROLES,
    GRANTABLE_ROLES,
    ConsentVerdict,
    Decision,
    Effect,
    JoinedConsent,
    Reason,
    decide,
    subjects,
)
from privacy import tables as pt
from throttle.answers import AnswerBudget
from tokenization import subject_tokens
from tokenization import tables as t
from tokenization.errors import BatchTooLarge, InvalidRequest, NotPermitted
from tokenization.model import MAX_BATCH, Caller, actor
from vault import Binding, subject_owner, subject_owner_column, with_stored_key

if TYPE_CHECKING:
    from tokenization.service import TokenizationService

NOT_FOUND = {"error": "not_found", "reason": "no such token"}
KEYS_WITH_ROWS = 16  # up to this many tokens, their owners' keys are read with the token rows
_FIELD_TYPE_GONE = Decision(Effect.DENY, Reason.UNKNOWN_FIELD_TYPE)


@dataclasses.dataclass(slots=True)
class _Row:
    token: str
    field_type: str
    owner: str  # the subject, or a standalone token's internal owner
    owner_kind: str
    state: str
    sealed: bytes | None
    stored_key: tuple[str, str] | None = None  # the owner's key (key id, wrapped), read with the row
    decision: Decision | None = None
    consent: ConsentVerdict | None = None  # read with the row (the consent join), if it was


@dataclasses.dataclass(slots=True)
class _OwnerQuestions:
    """decide()'s callbacks for one row, noting whether one asked about the row's owner: a
    decision that asked nothing of it holds for every row alike in decide()'s other inputs."""

    row: _Row
    consent_for: Callable[[_Row], ConsentVerdict]
    exempt: Callable[[_Row], bool]
    grant_for: Callable[[_Row], str | None]
    asked: bool = False

    def consent(self) -> ConsentVerdict:
        # A verdict joined with the row is among the inputs rows are matched on; one read
        # apart is this owner's.
        self.asked = self.asked or self.row.consent is None
        return self.consent_for(self.row)

    def restriction_exempt(self) -> bool:
        self.asked = True
        return self.exempt(self.row)

    def grant(self) -> str | None:
        self.asked = True
        return self.grant_for(self.row)


def refuse_role(
    uow: UnitOfWork,
    caller: Caller,
    *,
    purpose: str | None = None,
    details: dict | None = None,
    request_id: str | None = None,
) -> None:
    """If ``caller``'s role never detokenizes: audit the attempt, commit, raise NotPermitted.

    The API calls it before it reads the request (no purpose or tokens known then).
    """
    if caller.role in DETOKENIZE_ROLES:
        return
    uow.record(
        AuditEvent(
            action="detokenize",
            actor=actor(caller),
            outcome="denied",
            purpose=purpose,
            reason=Reason.ROLE.value,
            request_id=request_id,
            details=details or {},
        )
    )
    uow.commit()
    raise NotPermitted(f"role {caller.role!r} may not detokenize")


def detokenize(
    svc: TokenizationService,
    uow: UnitOfWork,
    caller: Caller,
    purpose: str,
    tokens: Sequence[str],
    reveal: str = "plain",
    *,
    request_id: str | None = None,
) -> list[dict]:
    """See :meth:`TokenizationService.detokenize`."""
    if len(tokens) > MAX_BATCH:
        raise BatchTooLarge(f"at most {MAX_BATCH} tokens per request")
    if reveal not in (Effect.PLAIN, Effect.MASKED):
        raise InvalidRequest("reveal must be plain or masked")
    wanted = Effect(reveal)
    catalogued = svc.purposes.get(purpose)
    # An unknown purpose is the caller's text: it never goes into the audit log.
    audited_purpose = purpose if catalogued is not None else None
    session = uow.session
    assert session is not None
    who = actor(caller)

    # The caller's reveal grants (access), read once in this transaction, when they could count:
    # a grant revoked or expired before this request no longer counts.
    grants: list[Any] | None = None
    if caller.role not in DETOKENIZE_ROLES and caller.role in GRANTABLE_ROLES:
        grants = svc.reveal_grants(session, getattr(caller, "person", None))
    if caller.role not in DETOKENIZE_ROLES and not grants:
        refuse_role(
            uow,
            caller,
            purpose=audited_purpose,
            details={"tokens": len(tokens), "reveal": wanted.value},
            request_id=request_id,
        )

    # The consent lookup, the owners' stored keys and the answer budget's lock ride along the
    # token query: on PostgreSQL a detokenize reads in one round trip (issue 22).
    joined = None
    if svc.consent_join is not None and catalogued is not None and catalogued.consent_required:
        joined = svc.consent_join(t.tokens.c.subject_id, purpose)
    budget = svc.answer_budget if svc.answer_budget is not None and svc.answer_budget.limit else None
    # A few tokens' keys come with their rows. A batch's tokens share owners (an onboarded
    # customer's five values), whose keys one query of their own reads once each: carried
    # by every token row they cost a batch more than that query (bench/api.py, issue 22).
    keys_joined = len(tokens) <= KEYS_WITH_ROWS
    found, lock = _load(
        session, set(tokens), joined, None if budget is None else budget.lock_params(who), keys_joined
    )
    if budget is not None:
        # A lock-out refuses every request, before any decision is made or recorded. The lock
        # came with the rows; a request whose tokens all miss reads it by itself.
        if found:
            budget.check_read(who, lock)
        else:
            budget.check(session, who)
    # Tokens of erased subjects are gone; their tombstones make them "erased", not "not_found",
    # through the same decision as any token of an erased subject.
    unknown = set(tokens).difference(found)
    if unknown:
        for token, (owner, field_type) in subject_tokens.erased_tokens(session, svc.keyring, unknown).items():
            found[token] = _Row(token, field_type, owner, subjects.SUBJECT, subjects.ERASED, None)
    verdicts: dict[tuple[str, str], ConsentVerdict] = {}

    def consent_for(row: _Row) -> ConsentVerdict:
        if row.consent is not None:
            return row.consent
        subject = row.owner if row.owner_kind == subjects.SUBJECT else None
        cache_key = (row.owner, row.field_type)
        if cache_key not in verdicts:
            verdicts[cache_key] = svc.consent_check(session, subject, purpose, row.field_type)
        return verdicts[cache_key]

    def grant_for(row: _Row) -> str | None:
        nonlocal grants
        if grants is None:
            grants = svc.reveal_grants(session, getattr(caller, "person", None))
        subject = row.owner if row.owner_kind == subjects.SUBJECT else None
        for grant in grants:
            if grant.scope.reveal == Effect.PLAIN and grant.scope.covers(subject, purpose, row.field_type):
                return grant.id
        return None

    def exempt(row: _Row) -> bool:
        return svc.restriction_exempt(session, row.owner, purpose, caller.role)

    # Rows alike in all that decide() reads get the same decision, unless it asked about their
    # owner (a consent read apart, a restriction's holds, a grant): a batch's rows of a few field
    # types, joined with their consent, are decided a few times, not once per token (issue 22).
    alike: dict[tuple[Any, ...], Decision] = {}
    field_types: dict[str, FieldType] = {}
    for row in found.values():
        try:
            field_type = field_types.get(row.field_type) or svc.field_types.get(row.field_type)
        except UnknownFieldType:
            row.decision = _FIELD_TYPE_GONE  # removed from the configuration since
            continue
        field_types[row.field_type] = field_type
        same = (row.field_type, row.owner_kind, row.state, row.consent)
        decision = alike.get(same)
        if decision is None:
            questions = _OwnerQuestions(row, consent_for, exempt, grant_for)
            decision = decide(
                role=caller.role,
                client_purposes=caller.purposes,
                client_field_types=caller.field_types,
                purpose_code=purpose,
                purpose=catalogued,
                field_type=row.field_type,
                pipl_sensitive=field_type.pipl_sensitive,
                subject_state=row.state,
                consent=questions.consent,
                reveal=wanted,
                restriction_exempt=questions.restriction_exempt,
                grant=questions.grant,
            )
            if not questions.asked:
                alike[same] = decision
        row.decision = decision

    allowed = [row for row in found.values() if row.decision is not None and row.decision.allowed]
    if keys_joined:
        stored = {subject_owner(row.owner): row.stored_key for row in allowed if row.stored_key is not None}
    else:
        stored = svc.keyring.stored_keys(session, {subject_owner(row.owner) for row in allowed})
    keys = svc.keyring.unwrap(stored)
    answers: dict[str, dict] = {}
    for row in allowed:
        key = keys.get(subject_owner(row.owner))
        if key is None or row.sealed is None:
            row.decision = Decision(Effect.DENY, Reason.ERASED)
            continue
        value = key.open(row.sealed, Binding(row.owner, row.field_type, row.token)).decode("utf-8")
        if row.decision.effect is Effect.PLAIN:
            answers[row.token] = {"value": value}
        else:
            answers[row.token] = {"masked": field_types[row.field_type].mask(value)}

    # In request order, without echoing the tokens: a caller who sent a value by mistake
    # must not get it back in a response (or in a proxy's log of one).
    results = []
    for token in tokens:
        row = found.get(token)
        if row is None:
            results.append(NOT_FOUND)
        elif row.token in answers:
            results.append(answers[row.token])
        else:
            assert row.decision is not None
            results.append({"error": row.decision.error, "reason": row.decision.reason.value})

    if svc.answer_budget is not None:
        # Past the budget the whole request is refused before its decisions are recorded.
        guesses = sum(1 for r in results if r.get("error") in ("not_found", "denied"))
        svc.answer_budget.spend(uow, who, guesses, request_id=request_id)
    missing = len(set(tokens)) - len(found)
    approvals = {g.id: g for g in grants or ()}
    for event in _audit_events(who, audited_purpose, wanted, found, missing, request_id, approvals):
        uow.record(event)
    uow.commit()
    return results


def _load(
    session: Session,
    tokens: Iterable[str],
    joined: JoinedConsent | None,
    budget: dict[str, str] | None,
    keys: bool,
) -> tuple[dict[str, _Row], dt.datetime | None]:
    """The rows of the tokens that exist, with their owners' kind and state (one query); with
    ``keys``, each owner's stored key; with ``joined``, each subject's consent verdict; with
    ``budget`` (the answer budget's parameters), the caller's lock end too, returned beside the
    rows (None without rows)."""
    bind = session.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if joined is None:
        query = _load_statement(None, None, postgres, budget is not None, keys)
    else:
        query = _load_statement(joined.columns, joined.join, postgres, budget is not None, keys)
    # With psycopg, through the driver (piivault.direct): the tokens are one array. Before the
    # unit of work has begun anything, at READ COMMITTED, on a connection of its own in
    # autocommit, where a read in its transaction would see no more (a grouped detokenize's
    # session then needs no connection at all); else on the session's connection, in its
    # transaction (one connection, not a second beside the one it holds).
    direct = direct_read(query, bind.engine)
    own = direct is not None and not session.in_transaction() and snapshot_per_statement(bind.engine)
    found: dict[str, _Row] = {}
    lock = None
    params = budget or {}
    # PostgreSQL takes the tokens as one array (at most MAX_BATCH); SQLite as IN lists.
    for chunk in [list(tokens)] if postgres else chunked(list(tokens)):
        values = {"tokens": chunk, **params}
        # .all(): the driver's fetchall, not a fetch per row (a tenth of _load's time for 1,000 rows).
        if direct is None:
            rows = session.execute(query, values).all()
        else:
            rows = direct.all(values) if own else direct.all_on(session.connection(), values)
        for token, field_type, owner, sealed, kind, state, *extra in rows:
            row = _Row(token, field_type, owner, kind, state, None if sealed is None else bytes(sealed))
            if keys:
                key_id, wrapped, *extra = extra
                if key_id is not None:
                    row.stored_key = (key_id, wrapped)
            if budget is not None:
                lock, *extra = extra
            if joined is not None and kind == subjects.SUBJECT:
                row.consent = joined.verdict(extra)
            found[token] = row
    return found, lock


@functools.lru_cache(maxsize=256)
def _load_statement(
    consent_columns: tuple[sa.ColumnElement[Any], ...] | None,
    join: Callable[[sa.Select[Any]], sa.Select[Any]] | None,
    postgres: bool,
    budget: bool,
    keys: bool,
) -> sa.Select[Any]:
    # Built once per consent join (one per purpose): building it anew, and compiling it
    # again, would cost more than running it. On PostgreSQL the tokens are one array
    # parameter (piivault.db.in_array): the text stays the same, so it is prepared once;
    # an IN list of 1,000 placeholders was rendered and parsed again for every batch.
    # Columns: the token's, its owner's, then [the owner's stored key], [budget lock], [consent].
    c, s = t.tokens.c, pt.subjects.c
    query = sa.select(c.token, c.field_type, c.subject_id, c.sealed, s.kind, s.state).join_from(
        t.tokens, pt.subjects
    )
    if keys:
        query = with_stored_key(query, subject_owner_column(c.subject_id))
    if budget:
        query = query.add_columns(AnswerBudget.lock_column())
    if consent_columns:
        query = query.add_columns(*consent_columns)
    if join is not None:
        query = join(query)
    if postgres:
        return query.where(in_array(c.token, "tokens"))
    return query.where(c.token.in_(sa.bindparam("tokens", expanding=True)))


def _audit_events(
    who: str,
    purpose: str | None,
    reveal: Effect,
    found: dict[str, _Row],
    missing: int,
    request_id: str | None,
    grants: dict[str, Any],
) -> list[AuditEvent]:
    """One event per (subject, outcome, reason, grant), and one for tokens that do not exist.

    A reveal under a grant names the grant, how it came about (approval or
    break-glass) and whose approvals made it."""
    groups: dict[tuple[str, str, str, str], list[_Row]] = defaultdict(list)
    labels: dict[int, tuple[str, str, str]] = {}  # per decision (rows alike share one): its labels
    for row in found.values():
        decision = row.decision
        assert decision is not None
        label = labels.get(id(decision))
        if label is None:
            label = labels[id(decision)] = (decision.outcome, decision.reason.value, decision.grant_id or "")
        groups[(row.owner, *label)].append(row)
    events = []
    for (owner, outcome, reason, grant_id), rows in sorted(groups.items()):
        details: dict[str, Any] = {
            "tokens": len(rows),
            "reveal": reveal.value,
            "effect": rows[0].decision.effect.value,  # type: ignore[union-attr]
        }
        if grant_id:
            grant = grants[grant_id]
            details.update(grant=grant_id, grant_kind=grant.kind, approved_by=list(grant.approved_by))
        events.append(
            AuditEvent(
                action="detokenize",
                actor=who,
                outcome=outcome,
                subject_id=owner,
                purpose=purpose,
                field_types=tuple(sorted({r.field_type for r in rows})),
                reason=reason,
                request_id=request_id,
                details=details,
            )
        )
    if missing:
        events.append(
            AuditEvent(
                action="detokenize",
                actor=who,
                outcome="error",
                purpose=purpose,
                reason="not_found",
                request_id=request_id,
                details={"tokens": missing, "reveal": reveal.value},
            )
        )
    return events
