"""Four eyes on API keys that read data (``client.data_access``).

An admin creates a client; when it has data access (role ``service`` with
purposes or permissions, :func:`identity.clients.model.has_data_access`) the same
transaction files an approval request naming the client, asked by the admin's
person. The key exists at once (it is shown only then) but is refused with
``client_pending_approval`` until a DPO - another person - approves and a
grant for the client exists; revoking that grant stops the key again. So an
admin alone never obtains a key that reads data, through the API or the CLI.

A client whose role approves something (a ``dpo`` key) goes the same way with
an ``identity.approver`` request (:mod:`access.identity`): otherwise an admin
could mint a DPO key naming an invented person and approve their own clients.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from access import identity
from access import model as m
from access.service import AccessService

if TYPE_CHECKING:
    from identity.clients.model import Client
    from identity.clients.store import ClientStore

REASON_CODE = "client_onboarding"
REASON_TEXT = "new API client with data access"


@dataclasses.dataclass(frozen=True)
class Onboarded:
    """A new client, its key (shown once) and the approval request for its data access (None: it
    needs none; ``approved`` already when four eyes is off for ``client.data_access``)."""

    client: Client
    key: str
    approval: m.ApprovalRequest | None


def create_client(
    store: ClientStore,
    access: AccessService,
    acting: m.Acting,
    *,
    reason_text: str | None = None,
    request_id: str | None = None,
    bootstrap: bool = False,
    **fields: Any,
) -> Onboarded:
    """Create a client as ``acting`` (an admin); one with data access or an approving role waits
    for approval.

    ``fields`` are :meth:`ClientStore.create`'s. ``bootstrap`` (the command line
    only) creates an approving key without approval while no approving identity
    exists (the first DPO). Raises what it raises, and NoPerson (the admin's
    credential names nobody), RequesterRole, InvalidScope (a reason holding an
    identifier), ApprovalRequired (bootstrap with an approver existing); nothing
    is created then.
    """
    asked: list[m.ApprovalRequest] = []
    approving = identity.needs_approval(access, str(fields.get("role")))

    def ask(uow: Any, client: Client) -> None:
        if approving:
            if bootstrap:
                identity.refuse_unless_first(uow, access, but_client=client.id)
                return
            asked.append(
                identity.ask_in(uow, access, acting, client.id, client.person, request_id=request_id)
            )
        elif client.needs_approval:
            asked.append(
                access.request_in(
                    uow,
                    acting,
                    m.CLIENT_DATA_ACCESS,
                    m.Scope(target=client.id),
                    REASON_CODE,
                    reason_text or REASON_TEXT,
                    request_id=request_id,
                )
            )

    client, key = store.create(
        actor=acting.actor, in_transaction=ask, approving=approving and not bootstrap, **fields
    )
    return Onboarded(client, key, asked[0] if asked else None)
