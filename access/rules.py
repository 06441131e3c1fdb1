"""How many approvals each action needs, and who may ask and approve: four eyes by default.

``PIIVAULT_APPROVALS`` changes the defaults per action, comma-separated::

    dsr.package=0                 # a deployment with one DPO: four-eyes off for packages
    reveal=2:dpo+auditor          # two approvals, from DPOs or auditors

A count of 0 turns four eyes off for that action: a request is approved as
it is made (still recorded and audited), and the start-up log and the
console's dashboard say so.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

from access import model as m
from piivault.errors import ConfigurationError

log = logging.getLogger(__name__)

APPROVER_ROLES = ("dpo", "auditor", "admin")
MAX_APPROVALS = 5


@dataclasses.dataclass(frozen=True)
class Rule:
    requesters: tuple[str, ...]  # roles that may ask
    approvers: tuple[str, ...]  # roles whose approval counts
    count: int  # approvals needed, each from a person other than the requester

    @property
    def four_eyes(self) -> bool:
        return self.count > 0


DEFAULTS: Mapping[str, Rule] = {
    m.CLIENT_DATA_ACCESS: Rule(("admin",), ("dpo",), 1),
    m.DSR_PACKAGE: Rule(("dpo",), ("dpo",), 1),
    m.DSR_ERASURE: Rule(("dpo",), ("dpo",), 1),
    m.REIDENTIFY: Rule(("dpo",), ("dpo",), 1),
    m.REVEAL: Rule(("dpo", "auditor"), ("dpo",), 1),
    m.PURPOSE_WIDEN: Rule(("dpo", "admin"), ("dpo",), 1),
    # A key or console user that could approve anything: asked for by the admin creating it.
    m.IDENTITY_APPROVER: Rule(("admin",), ("dpo",), 1),
}


@dataclasses.dataclass(frozen=True)
class ApprovalRules:
    rules: Mapping[str, Rule]

    def __getitem__(self, action: str) -> Rule:
        return self.rules[action]

    def approving_roles(self) -> frozenset[str]:
        """Roles whose approval counts for some action: a credential in one of them is itself
        approved first (``identity.approver``, :mod:`access.identity`)."""
        return frozenset(role for rule in self.rules.values() if rule.four_eyes for role in rule.approvers)

    def four_eyes_off(self) -> list[str]:
        """Actions a deployment has lowered to no approval at all."""
        return [action for action, rule in self.rules.items() if not rule.four_eyes]


def load_rules(raw: str | None) -> ApprovalRules:
    """The defaults, changed by ``raw`` (the ``PIIVAULT_APPROVALS`` setting).

    Raises :class:`ConfigurationError` for an unknown action or role or a count out of range.
    """
    rules = dict(DEFAULTS)
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        action, sep, value = part.strip().partition("=")
        if not sep or action not in rules:
            raise ConfigurationError(
                "PIIVAULT_APPROVALS: each entry is action=count[:role+role], "
                f"action among {', '.join(m.ACTIONS)}"
            )
        count_text, _, roles_text = value.partition(":")
        try:
            count = int(count_text)
        except ValueError:
            raise ConfigurationError(
                f"PIIVAULT_APPROVALS: the count of {action} must be an integer"
            ) from None
        if not 0 <= count <= MAX_APPROVALS:
            raise ConfigurationError(
                f"PIIVAULT_APPROVALS: the count of {action} must be 0 to {MAX_APPROVALS}"
            )
        roles = tuple(r for r in roles_text.split("+") if r) or rules[action].approvers
        if any(r not in APPROVER_ROLES for r in roles):
            raise ConfigurationError(
                f"PIIVAULT_APPROVALS: approving roles are among {', '.join(APPROVER_ROLES)}"
            )
        rules[action] = Rule(rules[action].requesters, roles, count)
    return ApprovalRules(rules)


def log_four_eyes(rules: ApprovalRules) -> None:
    """The start-up line: loud when a deployment turned four eyes off for an action."""
    off = rules.four_eyes_off()
    if off:
        log.warning(
            "four-eyes is OFF for: %s (PIIVAULT_APPROVALS); one person alone may do these", ", ".join(off)
        )
    else:
        log.info("four-eyes is on for every action that needs it")
