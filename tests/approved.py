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


def actor_of(person: str, actor: str = "test") -> str:
    """The audit actor of a test person's own credential (each person acts through their own:
    the credential that asked never decides)."""
    return f"{actor}:{person}"


def create_client(
    container: Container, *, store: Any = None, actor: str = "test", **fields: Any
) -> tuple[Client, str]:
    """A client and its key (``fields`` as ``ClientStore.create``'s); data access approved by a DPO."""
    access = container.access
    made = onboard(
        store or container.clients,
        access,
        m.Acting(TEST_ADMIN, "admin", actor_of(TEST_ADMIN, actor)),
        **fields,
    )
    if made.approval is not None and made.approval.state == m.PENDING:
        approver = TEST_DPO_2 if made.approval.scope.person == TEST_DPO else TEST_DPO
        access.approve(m.Acting(approver, "dpo", actor_of(approver, actor)), made.approval.id)
    return made.client, made.key


SECOND_DPO = TEST_DPO_2  # the DPO who approves what TEST_DPO asks for


def four_eyes(
    container: Container,
    action: str,
    target: str,
    *,
    holder: str = TEST_DPO,
    approver: str = SECOND_DPO,
) -> m.ApprovalRequest:
    """``holder`` (a DPO) asks for ``action`` (``dsr.package``, ``dsr.erasure``,
    ``extract.reidentify``) on ``target`` and ``approver``, another DPO, approves: the grant
    :mod:`access.gate` needs, made the way the API makes it."""
    access = container.access
    asked = access.request(
        m.Acting(holder, "dpo", actor_of(holder)),
        action,
        m.Scope(target=target),
        "data_subject_request",
        "a second DPO approves it in the tests",
    )
    if asked.state == m.PENDING:
        asked = access.approve(m.Acting(approver, "dpo", actor_of(approver)), asked.id)
    return asked


def console_user(container: Container, username: str, role: str = "dpo") -> str:
    """An enabled console user with the test password (``tests.console.conftest.PASSWORD``), made
    as users were before the identity rule (no ``identity.approver`` request: approved)."""
    from tests.console.conftest import PASSWORD

    container.users.create(username=username, role=role, password=PASSWORD, actor="test")
    return username


def cli_decide(
    runner: Any,
    env: dict[str, str],
    *args: str,
    user: str,
    password: str | None = None,
    terminal: str | None = None,
) -> Any:
    """``piivault ARGS --as USER --password-stdin`` with the user's console password on stdin
    (the test password unless given): a deciding command, proven as the console user, typed at
    the terminal login ``terminal`` (the user's own desk unless given: not the one that asked)."""
    from piivault.cli import main
    from tests.console.conftest import PASSWORD

    return runner.invoke(
        main,
        [*args, "--as", user, "--password-stdin"],
        env={**env, "LOGNAME": terminal or f"{user}-desk"},
        input=(PASSWORD if password is None else password) + "\n",
    )
