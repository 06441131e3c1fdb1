"""The policy decision point: (caller, role, purpose, field type, subject) -> plain | masked | deny.

Roles, as decided for piivault:

* ``service`` (calling systems) tokenizes, and detokenizes in plain or masked
  form, only under the purposes and field types on its key;
* ``dpo`` sees the masked form only: enough to answer a data-subject request or
  check a complaint, not to copy values out. A DPO's key carries no purposes
  (keys bind purposes for service and analyst clients only), so the DPO may
  declare any catalogued purpose; every other check applies;
* ``admin``, ``analyst`` and ``auditor`` never detokenize (analysts get
  anonymized extracts, auditors the audit log, admins manage clients);
* a DPO or an auditor holding a *grant* (:mod:`access`: another person approved
  a reveal of these subjects for this purpose, or a reviewed-later break-glass)
  sees plain values of what the grant covers, while it lasts; every other check
  still applies.

Checks run in a fixed order and the first that fails is the reason: role,
purpose known, purpose on the key, field type on the key (both for
purpose-bound roles), field type covered by the purpose, subject erased,
subject restricted (unless a hold lets this role use it for this purpose),
consent (no consent, expired, withdrawn, reconsent required) and separate
consent where the purpose or a PIPL-sensitive field type needs it ("separate
consent missing"). Only then is the reveal decided: what was
asked for, capped by the role.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import StrEnum

from privacy.purpose_config import Purpose
from privacy.verdict import ConsentVerdict


class Effect(StrEnum):
    PLAIN = "plain"
    MASKED = "masked"
    DENY = "deny"


class Reason(StrEnum):
    ALLOWED = "allowed"
    MASKED_ON_REQUEST = "masked on request"
    MASKED_FOR_ROLE = "role sees masked values only"
    ALLOWED_BY_GRANT = "allowed by grant"
    ROLE = "role may not detokenize"
    UNKNOWN_PURPOSE = "unknown purpose"
    PURPOSE_NOT_ALLOWED = "purpose not allowed for this client"
    FIELD_TYPE_NOT_ALLOWED = "field type not allowed for this client"
    OUTSIDE_PURPOSE = "field type not covered by the purpose"
    UNKNOWN_FIELD_TYPE = "field type no longer configured"
    RESTRICTED = "restricted"
    ERASED = "erased"
    NO_CONSENT = "no consent"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    RECONSENT_REQUIRED = "reconsent required"
    NO_SEPARATE_CONSENT = "separate consent missing"


# Who may tokenize (/v1/tokenize requires these, as /v1/detokenize requires DETOKENIZE_ROLES).
TOKENIZE_ROLES = ("service",)
# The most a role may see; roles not listed never detokenize.
DETOKENIZE_ROLES: dict[str, Effect] = {"service": Effect.PLAIN, "dpo": Effect.MASKED}
# Roles a reveal grant lifts to plain values of the subjects it names.
GRANTABLE_ROLES = frozenset({"dpo", "auditor"})
# Roles whose keys list the purposes (and optionally field types) they may use.
PURPOSE_BOUND_ROLES = frozenset({"service"})


@dataclasses.dataclass(frozen=True)
class Decision:
    effect: Effect
    reason: Reason
    grant_id: str | None = None  # the grant that allowed it, if one did

    @property
    def allowed(self) -> bool:
        return self.effect is not Effect.DENY

    @property
    def outcome(self) -> str:
        """The audit outcome: success, denied, or error for an erased subject."""
        if self.allowed:
            return "success"
        return "error" if self.reason is Reason.ERASED else "denied"

    @property
    def error(self) -> str | None:
        """The per-token error code: denied, restricted or erased (None when allowed)."""
        if self.allowed:
            return None
        if self.reason in (Reason.RESTRICTED, Reason.ERASED):
            return self.reason.value
        return "denied"


def _deny(reason: Reason) -> Decision:
    return Decision(Effect.DENY, reason)


# Why a consent does not count, as the consent check says it (privacy.consent_check).
_CONSENT_REASONS = {r.value: r for r in (Reason.EXPIRED, Reason.WITHDRAWN, Reason.RECONSENT_REQUIRED)}


def no_exemption() -> bool:
    return False


def no_grant() -> str | None:
    return None


def decide(
    *,
    role: str,
    client_purposes: frozenset[str],
    client_field_types: frozenset[str] | None,
    purpose_code: str,
    purpose: Purpose | None,
    field_type: str,
    pipl_sensitive: bool,
    subject_state: str | None,
    consent: Callable[[], ConsentVerdict],
    reveal: Effect,
    restriction_exempt: Callable[[], bool] = no_exemption,
    grant: Callable[[], str | None] = no_grant,
) -> Decision:
    """Decide one detokenization. Pure, except that ``consent`` is called when needed.

    ``purpose`` is the catalogue entry for ``purpose_code`` (None if unknown);
    ``client_field_types`` None means every field type; ``subject_state`` is
    active, restricted or erased (None for a standalone token's owner, treated
    as active). ``reveal`` is PLAIN or MASKED, what the caller asked for.
    ``restriction_exempt`` (called only for a restricted subject) says whether
    a retention or legal hold lets this role use the data for this purpose.
    ``grant`` (called only for a role a grant can lift, when it matters) is
    the id of the caller's active grant covering this value, or None.
    """
    ceiling = DETOKENIZE_ROLES.get(role)
    granted: str | None = None
    if ceiling is None:
        granted = grant() if role in GRANTABLE_ROLES else None
        if granted is None:
            return _deny(Reason.ROLE)
    if purpose is None:
        return _deny(Reason.UNKNOWN_PURPOSE)
    if role in PURPOSE_BOUND_ROLES:
        if purpose_code not in client_purposes:
            return _deny(Reason.PURPOSE_NOT_ALLOWED)
        if client_field_types is not None and field_type not in client_field_types:
            return _deny(Reason.FIELD_TYPE_NOT_ALLOWED)
    if not purpose.covers(field_type):
        return _deny(Reason.OUTSIDE_PURPOSE)
    if subject_state == "erased":
        return _deny(Reason.ERASED)
    if subject_state == "restricted" and not restriction_exempt():
        return _deny(Reason.RESTRICTED)
    if purpose.consent_required:
        verdict = consent()
        if not verdict.granted:
            return _deny(_CONSENT_REASONS.get(verdict.reason, Reason.NO_CONSENT))
        if (purpose.separate_consent_required or pipl_sensitive) and not verdict.separate:
            return _deny(Reason.NO_SEPARATE_CONSENT)
    if reveal is Effect.MASKED:
        return Decision(Effect.MASKED, Reason.MASKED_ON_REQUEST)
    if ceiling is not Effect.PLAIN:
        granted = granted or (grant() if role in GRANTABLE_ROLES else None)
        if granted is None:
            return Decision(Effect.MASKED, Reason.MASKED_FOR_ROLE)
        return Decision(Effect.PLAIN, Reason.ALLOWED_BY_GRANT, granted)
    return Decision(Effect.PLAIN, Reason.ALLOWED)
