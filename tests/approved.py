"""Test clients made the way an admin makes them: one with data access goes through four eyes.

The fixtures' service keys are asked for by an admin (``test-admin``) and
approved by a DPO (``test-dpo``), another person - the approval path, never a
way around it (:mod:`access.onboarding`). A key in an approving role (``dpo``)
is approved the same way (``identity.approver``, :mod:`access.identity`), by
``test-dpo2`` when it names ``test-dpo`` (nobody approves their own).
"""

from __future__ import annotations

from typing import Any

from access import model as m
from access.onboarding import create_client as onboard
from identity.clients.model import Client
from piivault.container import Container

TEST_ADMIN = "test-admin"
TEST_DPO = "test-dpo"
TEST_DPO_2 = "test-dpo2"


def create_client(
    container: Container, *, store: Any = None, actor: str = "test", **fields: Any
) -> tuple[Client, str]:
    """A client and its key (``fields`` as ``ClientStore.create``'s); data access approved by a DPO."""
    access = container.access
    made = onboard(
        store or container.clients, access, m.Acting(TEST_ADMIN, "admin", actor), **fields
    )
    if made.approval is not None and made.approval.state == m.PENDING:
        approver = TEST_DPO_2 if made.approval.scope.person == TEST_DPO else TEST_DPO
        access.approve(m.Acting(approver, "dpo", actor), made.approval.id)
    return made.client, made.key


SECOND_DPO = TEST_DPO_2  # the DPO who approves what TEST_DPO asks for


def four_eyes(
    container: Container,
    action: str,
    target: str,
    *,
    holder: str = TEST_DPO,
    approver: str = SECOND_DPO,
    actor: str = "test",
) -> m.ApprovalRequest:
    """``holder`` (a DPO) asks for ``action`` (``dsr.package``, ``dsr.erasure``,
    ``extract.reidentify``) on ``target`` and ``approver``, another DPO, approves: the grant
    :mod:`access.gate` needs, made the way the API makes it."""
    access = container.access
    asked = access.request(
        m.Acting(holder, "dpo", actor),
        action,
        m.Scope(target=target),
        "data_subject_request",
        "a second DPO approves it in the tests",
    )
    if asked.state == m.PENDING:
        asked = access.approve(m.Acting(approver, "dpo", actor), asked.id)
    return asked
