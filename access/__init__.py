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
* :mod:`.service` - the use cases, each one unit of work with its audit events;
* :mod:`.cli` - ``piivault approvals``, ``piivault grants``, ``piivault break-glass``.
"""

from access.errors import (
    ApprovalNotFound,
    GrantNotFound,
    NoPerson,
    NotApprover,
    SelfApproval,
)
from access.model import (
    ACTIONS,
    REASON_CODES,
    Acting,
    ApprovalRequest,
    Grant,
    Scope,
)
from access.rules import ApprovalRules, load_rules
from access.service import AccessService

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
