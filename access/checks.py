"""What may be asked for: free text that holds no identifier, a scope that fits its action,
the action's rule, and a person behind the credential.

Pure checks, no database: :mod:`access.requests` and :mod:`access.break_glass` run them
before anything is written; each refusal raises InvalidScope, RequesterRole or NoPerson.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection

from access import errors
from access import model as m
from access.deps import AccessDeps
from access.rules import ApprovalRules, Rule

SUBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{7,63}")
# Digit runs (with the spaces or dashes people type in card numbers) and long
# letter-digit runs: the parts of free text that could be an identifier.
_DIGIT_RUN = re.compile(r"(?<!\d)\d[\d \-]{6,}[\dXx](?!\d)")
_WORD_RUN = re.compile(r"[0-9A-Za-z]{8,}")
DEFAULT_GRANT_MINUTES = 60
# Grants that last until revoked: a client's data access, an approving identity.
UNTIL_REVOKED = frozenset({m.CLIENT_DATA_ACCESS, m.IDENTITY_APPROVER})


def check_text(text: object, looks_like_identifier: Callable[[str], bool], name: str = "reason_text") -> str:
    """Free text that holds no identifier; raises InvalidScope."""
    if not isinstance(text, str) or not text.strip():
        raise errors.InvalidScope(f"{name} is required")
    text = text.strip()
    if len(text) > m.MAX_REASON_TEXT:
        raise errors.InvalidScope(f"{name} is at most {m.MAX_REASON_TEXT} characters")
    candidates = {text, *(re.sub(r"[ \-]", "", c) for c in _DIGIT_RUN.findall(text))}
    candidates.update(_WORD_RUN.findall(text))
    if any(looks_like_identifier(c) for c in candidates):
        # The message never repeats the text.
        raise errors.InvalidScope(f"{name} must not hold an identifier (a phone, ID, card or credit code)")
    return text


def check_scope(
    action: str,
    scope: m.Scope,
    *,
    looks_like_identifier: Callable[[str], bool],
    purposes: Collection[str] | None,
    max_minutes: int,
) -> m.Scope:
    """``scope`` checked against ``action`` (a target, or a reveal's subjects, purpose and field
    types), with its minutes filled in; raises InvalidScope."""
    if action in m.TARGETED:
        if not scope.target or not m.TARGET_PATTERN.fullmatch(scope.target):
            raise errors.InvalidScope(f"{action} needs a target (the id it is about)")
        if looks_like_identifier(scope.target):
            raise errors.InvalidScope("target must be an id, not an identifier")
    if action == m.REVEAL:
        _check_reveal(scope, looks_like_identifier, purposes)
    elif scope.subjects or scope.purpose or scope.field_types is not None:
        raise errors.InvalidScope(f"{action} takes a target only")
    if scope.person is not None and action != m.IDENTITY_APPROVER:
        raise errors.InvalidScope(f"{action} names no person")
    if (scope.digest is not None or scope.proposal is not None) and action != m.PURPOSE_WIDEN:
        raise errors.InvalidScope(f"{action} carries no proposal")
    if action == m.PURPOSE_WIDEN and (not scope.digest or scope.proposal is None):
        raise errors.InvalidScope("purpose.widen is filed with the proposed definition and its digest")
    if scope.reveal not in ("plain", "masked"):
        raise errors.InvalidScope("reveal must be plain or masked")
    minutes = scope.minutes
    if minutes is None and action not in UNTIL_REVOKED:
        minutes = min(DEFAULT_GRANT_MINUTES, max_minutes)
    if minutes is not None and not 1 <= minutes <= max_minutes:
        raise errors.InvalidScope(f"minutes must be 1 to {max_minutes}")
    return dataclasses.replace(scope, minutes=minutes)


def _check_reveal(
    scope: m.Scope, looks_like_identifier: Callable[[str], bool], purposes: Collection[str] | None
) -> None:
    if not 1 <= len(scope.subjects) <= m.MAX_SUBJECTS:
        raise errors.InvalidScope(f"a reveal names 1 to {m.MAX_SUBJECTS} subjects")
    for subject in scope.subjects:
        if not SUBJECT_ID.fullmatch(subject) or looks_like_identifier(subject):
            raise errors.InvalidScope("subjects must be subject ids")
    if not scope.purpose or not m.CODE_PATTERN.fullmatch(scope.purpose):
        raise errors.InvalidScope("a reveal needs a purpose code")
    if purposes is not None and scope.purpose not in purposes:
        raise errors.InvalidScope("unknown purpose")
    if scope.field_types is not None and (
        len(scope.field_types) > m.MAX_CODES
        or not all(m.CODE_PATTERN.fullmatch(c) for c in scope.field_types)
    ):
        raise errors.InvalidScope("field_types must be lowercase codes")


def scope_for(deps: AccessDeps, action: str, scope: m.Scope, max_minutes: int) -> m.Scope:
    """:func:`check_scope` with ``deps``' identifier check and purpose catalogue."""
    return check_scope(
        action,
        scope,
        looks_like_identifier=deps.looks_like_identifier,
        purposes=deps.purposes,
        max_minutes=max_minutes,
    )


def rule_of(rules: ApprovalRules, action: str) -> Rule:
    """The rule of a known action; raises InvalidScope for any other."""
    if action not in m.ACTIONS:
        raise errors.InvalidScope(f"action must be one of: {', '.join(m.ACTIONS)}")
    return rules[action]


def check_ask(
    deps: AccessDeps, acting: m.Acting, action: str, reason_code: str, reason_text: str
) -> tuple[Rule, str, str]:
    """The action's rule, the asking person and the checked reason text (request or break-glass)."""
    rule = rule_of(deps.rules, action)
    person = person_of(acting)
    if acting.role not in rule.requesters:
        raise errors.RequesterRole(f"{action} is asked for by the role {' or '.join(rule.requesters)}")
    if reason_code not in m.REASON_CODES:
        raise errors.InvalidScope(f"reason_code must be one of: {', '.join(m.REASON_CODES)}")
    return rule, person, check_text(reason_text, deps.looks_like_identifier)


def person_of(acting: m.Acting) -> str:
    """The person acting; raises NoPerson for a credential that names none."""
    if not acting.person:
        raise errors.NoPerson()
    return acting.person
