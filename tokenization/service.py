"""The tokenization service: the use cases other layers call.

Every method takes plain values and a unit of work, commits it (the change
and its audit events together), and returns plain values. It never sees Flask:
``api/`` translates HTTP to these calls. Nothing here logs or raises a value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.events import AuditEvent
from fieldtypes import (
    ConfigError,
    FieldTypeRegistry,
    default_registry,
    load_field_types,
)
from fieldtypes.builtin.bank_card import keeping_bin
from piivault.db import UnitOfWork, utcnow
from piivault.errors import ConfigurationError
from piivault.settings import Settings
from privacy import PurposeCatalogue, consent_check, holds, load_purposes, subjects
from privacy.verdict import ConsentVerdict, JoinedConsent
from throttle import AnswerBudget
from tokenization import detokenize as _detokenize
from tokenization import lookup as _lookup
from tokenization import subject_tokens
from tokenization import tokenize as _tokenize
from tokenization.errors import NotPermitted, SubjectErased, SubjectNotFound
from tokenization.model import Caller, TokenizeItem, TokenizeResult, actor
from tokenization.tokens import DeterministicScope, new_subject_id
from vault import Keyring

# Roles that may read a subject's metadata (no PII) and create subjects (/v1/subjects requires these).
SUBJECT_READ_ROLES = ("service", "dpo")
SUBJECT_CREATE_ROLES = ("service",)


def no_grants(session: object, person: str | None) -> list:
    """Without the access service, nobody holds a grant."""
    return []


@dataclasses.dataclass
class TokenizationService:
    keyring: Keyring
    field_types: FieldTypeRegistry
    purposes: PurposeCatalogue
    # A person's active reveal grants (access.AccessService.reveal_grants), in the caller's session.
    reveal_grants: Callable[..., list] = no_grants
    deterministic_scope: DeterministicScope = DeterministicScope.SUBJECT
    clock: Callable[[], dt.datetime] = utcnow
    # not_found/denied answers per caller and window (detokenize, lookup); None: no budget.
    answer_budget: AnswerBudget | None = None

    # -- the policy decision point's questions, answered by the privacy core ----------------
    # In the caller's session, at this service's clock: never from memory, so a withdrawal
    # or a released hold holds from the next request.
    def consent_check(
        self, session: Session, subject_id: str | None, purpose: str, field_type: str
    ) -> ConsentVerdict:
        """The consent verdict of (subject, purpose) (:func:`privacy.consent_check.check`)."""
        return consent_check.check(session, subject_id, purpose, self.clock())

    def consent_join(self, subject: sa.ColumnElement[Any], purpose: str) -> JoinedConsent:
        """The same verdict folded into the query that loads the tokens
        (:func:`privacy.consent_check.joined`). A test or ``bench/consent.py`` sets the attribute
        to None to compare it with one :meth:`consent_check` per subject."""
        return consent_check.joined(subject, purpose, self.clock())

    def restriction_exempt(self, session: Session, subject_id: str, purpose: str, role: str) -> bool:
        """Whether an active hold lets ``role`` use the restricted subject for ``purpose``
        (:func:`privacy.holds.exempts`)."""
        return holds.exempts(session, subject_id, purpose, role, self.clock())

    # -- tokens ---------------------------------------------------------------
    def tokenize(
        self,
        uow: UnitOfWork,
        caller: Caller,
        items: Sequence[TokenizeItem],
        *,
        purpose: str | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> TokenizeResult:
        """Tokenize up to 1,000 values; each item gets ``{"token"}`` or ``{"error": {rule, message}}``.

        Subjects named for the first time are created. With ``idempotency_key``,
        a request repeated within 24 hours returns the first response
        (``replayed``) and does nothing. A restricted subject's items get the
        error ``restricted`` unless ``purpose`` (optional; on the caller's key)
        is one a hold of the subject allows the caller's role. Raises
        NotPermitted (role, or a purpose not on the key),
        BatchTooLarge, InvalidRequest (a malformed key), IdempotencyConflict
        (same key, other body), VaultUnavailable, StorageUnavailable.
        """
        return _tokenize.tokenize(
            self,
            uow,
            caller,
            items,
            purpose=purpose,
            idempotency_key=idempotency_key,
            request_id=request_id,
        )

    def detokenize(
        self,
        uow: UnitOfWork,
        caller: Caller,
        purpose: str,
        tokens: Sequence[str],
        reveal: str = "plain",
        *,
        request_id: str | None = None,
    ) -> list[dict]:
        """Per token, in request order: ``{value}``, ``{masked}`` or ``{error, reason}``.

        ``error`` is not_found, denied, restricted or erased. Raises
        NotPermitted for a role that never detokenizes (after auditing the
        attempt), BatchTooLarge, InvalidRequest (reveal), VaultUnavailable,
        StorageUnavailable, InvalidSealedValue (a tampered value).
        """
        return _detokenize.detokenize(self, uow, caller, purpose, tokens, reveal, request_id=request_id)

    def refuse_detokenize_role(
        self, uow: UnitOfWork, caller: Caller, *, request_id: str | None = None
    ) -> None:
        """For a role that never detokenizes: audit the attempt and raise NotPermitted; else nothing."""
        _detokenize.refuse_role(uow, caller, request_id=request_id)

    def lookup(
        self,
        uow: UnitOfWork,
        caller: Caller,
        field_type: str,
        value: str,
        *,
        purpose: str | None = None,
        request_id: str | None = None,
    ) -> list[dict]:
        """Which subjects hold this value, under which tokens, as far as ``purpose`` allows.

        Answered from the blind index and decided by the policy decision point
        (see :mod:`tokenization.lookup`): ``[{token, kind, subject_id}]``
        (subject_id None for standalone tokens) for the matches allowed; each
        subject found is audited by name. Only the DPO may omit the purpose.
        Raises NotPermitted (role, or the purpose refused for this field
        type), InvalidRequest (no purpose, unknown field type or an invalid
        value, naming the rule only), StorageUnavailable.
        """
        return _lookup.lookup(self, uow, caller, field_type, value, purpose=purpose, request_id=request_id)

    def looks_like_identifier(self, text: str) -> bool:
        """See :meth:`fieldtypes.FieldTypeRegistry.looks_like_identifier`."""
        return self.field_types.looks_like_identifier(text)

    # -- subjects ---------------------------------------------------------------
    def create_subject(self, uow: UnitOfWork, caller: Caller, *, request_id: str | None = None) -> dict:
        """Create a subject with a fresh random id and its data key.

        Raises NotPermitted, VaultUnavailable, StorageUnavailable.
        """
        if caller.role not in SUBJECT_CREATE_ROLES:
            raise NotPermitted(f"role {caller.role!r} may not create subjects")
        session = uow.session
        assert session is not None
        now = self.clock()
        subject_id = new_subject_id()
        subjects.insert(session, [subject_id], subjects.SUBJECT, now)
        self.keyring.create_subject_keys(session, [subject_id])
        uow.record(
            AuditEvent(
                action="subject.create", actor=actor(caller), subject_id=subject_id, request_id=request_id
            )
        )
        uow.commit()
        return {
            "subject_id": subject_id,
            "state": subjects.ACTIVE,
            "created_at": now,
            "opened_at": None,
            "closed_at": None,
        }

    def subject_info(
        self, uow: UnitOfWork, caller: Caller, subject_id: str, *, request_id: str | None = None
    ) -> dict:
        """State, dates, and the field types held with their token counts: no PII.

        Raises NotPermitted, SubjectNotFound, StorageUnavailable.
        """
        if caller.role not in SUBJECT_READ_ROLES:
            raise NotPermitted(f"role {caller.role!r} may not read subjects")
        session = uow.session
        assert session is not None
        row = subjects.get(session, subject_id)
        if row is None:
            raise SubjectNotFound("no such subject")
        held = subject_tokens.held_field_types(session, subject_id)
        uow.record(
            AuditEvent(
                action="subject.read", actor=actor(caller), subject_id=subject_id, request_id=request_id
            )
        )
        uow.commit()
        return {
            "subject_id": row.subject_id,
            "state": row.state,
            "created_at": row.created_at,
            "opened_at": row.opened_at,
            "closed_at": row.closed_at,
            "token_count": sum(held.values()),
            "field_types": held,
        }

    def restrict_subject(
        self, uow: UnitOfWork, who: str, subject_id: str, reason: str, *, request_id: str | None = None
    ) -> None:
        """Restrict processing (PIPL art. 44): tokens stay, detokenization is denied.

        Raises SubjectNotFound, SubjectErased, StorageUnavailable.
        """
        self._change_state(uow, who, subject_id, subjects.RESTRICTED, reason, request_id)

    def lift_restriction(
        self, uow: UnitOfWork, who: str, subject_id: str, reason: str, *, request_id: str | None = None
    ) -> None:
        """Make a restricted subject active again. Raises as :meth:`restrict_subject`."""
        self._change_state(uow, who, subject_id, subjects.ACTIVE, reason, request_id)

    def forget_erased(self, session: Session, subject_ids: Sequence[str]) -> int:
        """After a restore and ``keys replay-erasures``: mark the subjects erased again and
        delete the tokens the backup brought back, with their sealed values and blind
        indexes (keyed hashes that could confirm a guessed value), leaving tombstones.
        Runs in the caller's transaction; returns the tokens deleted.
        """
        now = self.clock()
        known = subjects.states(session, list(subject_ids))
        count = 0
        for subject_id in sorted(subject_ids):  # rows locked in the order tokenize locks them
            if subject_id in known:
                subjects.set_state(session, subject_id, subjects.ERASED, now)
                count += subject_tokens.erase_tokens(session, self.keyring, subject_id, now)
        return count

    def _existing(self, session: Session, subject_id: str) -> str:
        found = subjects.states(session, [subject_id]).get(subject_id)
        if found is None or found[0] != subjects.SUBJECT:
            raise SubjectNotFound("no such subject")
        return found[1]

    def _change_state(
        self, uow: UnitOfWork, who: str, subject_id: str, state: str, reason: str, request_id: str | None
    ) -> None:
        session = uow.session
        assert session is not None
        subjects.keep_from_erasure(session, [subject_id])  # else "erased" could be written over
        if self._existing(session, subject_id) == subjects.ERASED:
            raise SubjectErased("the subject was erased")
        subjects.set_state(session, subject_id, state, self.clock())
        action = "subject.restrict" if state == subjects.RESTRICTED else "subject.lift_restriction"
        uow.record(
            AuditEvent(action=action, actor=who, subject_id=subject_id, reason=reason, request_id=request_id)
        )
        uow.commit()


def configured_field_types(settings: Settings) -> FieldTypeRegistry:
    """The field types: built in, or ``PIIVAULT_FIELD_TYPES_FILE``; card tokens keeping the BIN if
    ``PIIVAULT_CARD_TOKEN_KEEPS_BIN``. Raises :class:`ConfigurationError` for a bad file."""
    registry = default_registry()
    if settings.field_types_file:
        try:
            registry = load_field_types(Path(settings.field_types_file))
        except ConfigError as e:
            raise ConfigurationError(f"PIIVAULT_FIELD_TYPES_FILE: {e}") from None
    if settings.card_token_keeps_bin and "bank_card" in registry:
        registry.register(keeping_bin(registry.get("bank_card")), override=True)
    return registry


def configured_purposes(settings: Settings, field_types: FieldTypeRegistry) -> PurposeCatalogue:
    """The purposes of ``PIIVAULT_PURPOSES_FILE`` (default: a bank's); they seed the consent tables.
    Raises :class:`ConfigurationError` for a bad file."""
    purposes_file = Path(settings.purposes_file) if settings.purposes_file else None
    return load_purposes(purposes_file, field_types=field_types)


def build_tokenization_service(
    settings: Settings,
    keyring: Keyring,
    *,
    field_types: FieldTypeRegistry | None = None,
    purposes: PurposeCatalogue | None = None,
    reveal_grants: Callable[..., list] = no_grants,
    answer_budget: AnswerBudget | None = None,
) -> TokenizationService:
    """The service as configured (deterministic scope; field types and purposes from their
    files unless given), with the policy decision point's collaborators.

    Raises :class:`ConfigurationError` for a bad file or setting.
    """
    registry = field_types if field_types is not None else configured_field_types(settings)
    return TokenizationService(
        keyring=keyring,
        field_types=registry,
        purposes=purposes if purposes is not None else configured_purposes(settings, registry),
        reveal_grants=reveal_grants,
        deterministic_scope=DeterministicScope(settings.deterministic_scope),
        answer_budget=answer_budget,
    )
