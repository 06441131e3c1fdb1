"""Identity and access: separation of duties.

No single person reaches personal data alone. An *approval request* says who
asks (a person, through a console session or an API key that names them), for
which action and scope, and why; another person with the approving role
approves it (or denies it), and once enough approvals are collected it becomes
a time-limited *grant* that the policy decision point consults. *Break-glass*
takes a grant at once, raises an alert and must be reviewed afterwards by
someone else.

* :mod:`.model` - persons, actions, scopes, requests and grants (plain values);
* :mod:`.rules` - how many approvals each action needs, from which roles
  (configuration with four-eyes defaults);
* :mod:`.tables` - the tables (migration ``0010_access``);
* :mod:`.service` - the facade the other packages call, handing each call to its owner:
  :mod:`.requests` (approval requests), :mod:`.grants` (grants and the checks of them),
  :mod:`.break_glass`, each one unit of work with its audit events (:mod:`.events`), over
  :mod:`.checks` (what may be asked for) and :mod:`.rows` (the tables' rows), given
  :class:`.deps.AccessDeps`;
* :mod:`.cli` - ``piivault approvals``, ``piivault grants``, ``piivault break-glass``;
  :mod:`.clients_cli` and :mod:`.users_cli` - ``piivault clients`` and ``piivault users``
  (identities, :mod:`identity`, onboarded under four eyes).

The names below load on first use: ``piivault clients --help`` imports this package
without the service and its database layer.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from access.errors import ApprovalNotFound, GrantNotFound, NoPerson, NotApprover, SelfApproval
    from access.model import ACTIONS, REASON_CODES, Acting, ApprovalRequest, Grant, Scope
    from access.rules import ApprovalRules, load_rules
    from access.service import AccessService

# Each public name and the module that defines it.
_WHERE = {
    "ApprovalNotFound": "errors",
    "GrantNotFound": "errors",
    "NoPerson": "errors",
    "NotApprover": "errors",
    "SelfApproval": "errors",
    "ACTIONS": "model",
    "REASON_CODES": "model",
    "Acting": "model",
    "ApprovalRequest": "model",
    "Grant": "model",
    "Scope": "model",
    "ApprovalRules": "rules",
    "load_rules": "rules",
    "AccessService": "service",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"access.{module}"), name)


__all__ = [
    "ACTIONS",
    "REASON_CODES",
    "AccessService",
    "Acting",
    "ApprovalNotFound",
    "ApprovalRequest",
    "ApprovalRules",
    "Grant",
    "GrantNotFound",
    "NoPerson",
    "NotApprover",
    "Scope",
    "SelfApproval",
    "load_rules",
]
