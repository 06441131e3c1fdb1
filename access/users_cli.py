"""``piivault users``: the console's users, from the command line.

The first admin (and any user) is made here; passwords are read from a hidden
prompt (asked twice) or, for scripts, one line of standard input with
``--password-stdin``. They are never taken as an argument, where the process
list and shell history would keep them.

A user whose role approves something (``dpo``) is an approving identity
(:mod:`access.identity`): without ``--as`` it is made (or its password reset)
only as the very first one, the bootstrap; once another exists, ``--as ADMIN``
files an ``identity.approver`` request and the user cannot sign in until a DPO,
another person, approves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from identity.person import check_person
from identity.users.model import LANGUAGES, ROLES
from piivault.clikit import handle_errors as _cli_errors
from piivault.clikit import open_container, read_password, short_time, text_table

if TYPE_CHECKING:
    from identity.users.users import ConsoleUser


def _run(use: Callable[[Any], Any]) -> Any:

    container = open_container()
    try:
        return use(container.users)
    finally:
        container.close()


def _run_as(asking: str | None, use: Callable[[Any, Any, Any], Any]) -> Any:
    """``use(users, access, acting)``: as the admin named by ``--as`` (None: the operator, bootstrap)."""
    from access import model as m

    person = None
    if asking is not None:
        try:
            person = check_person(asking)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--as") from None
    container = open_container()
    try:
        acting = m.Acting(person, "admin", _actor())
        return use(container.users, container.access, acting)
    finally:
        container.close()


_AS = click.option(
    "--as",
    "asking",
    default=None,
    metavar="ADMIN",
    help="the admin asking; needed for a user in an approving role (dpo) once one exists: a DPO approves",
)


def _say_pending(approval: Any) -> None:
    if approval is None:
        return
    if approval.state == "pending":
        click.echo(
            f"the user cannot sign in until approval request {approval.id} is approved by a DPO, "
            f"not {approval.requester}:\n  piivault approvals approve {approval.id} --as DPO   "
            "(asks for that DPO's console password)",
            err=True,
        )
    else:
        click.echo(f"four-eyes is OFF for identity.approver: approved as asked ({approval.id})", err=True)


def _actor() -> str:
    from piivault.clikit import cli_actor

    return cli_actor()


@click.group("users")
def users_cli() -> None:
    """Console users (roles dpo, auditor, admin) and their passwords."""


@users_cli.command("create")
@click.option("--username", required=True, help="2-64 lowercase letters, digits, '.', '_' or '-'")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True, help="read the password from one line of standard input")
@click.option("--language", type=click.Choice(LANGUAGES), default="zh", show_default=True)
@click.option("--time-zone", default=None, help="IANA time zone (default: PIIVAULT_CONSOLE_TIME_ZONE)")
@_AS
@_cli_errors
def create(
    username: str, role: str, password_stdin: bool, language: str, time_zone: str | None, asking: str | None
) -> None:
    """Create a console user (the password is asked for twice, hidden)."""
    from access.identity import create_user

    password = read_password(password_stdin, confirm=True)
    user, approval = _run_as(
        asking,
        lambda users, access, acting: create_user(
            users,
            access,
            acting,
            bootstrap=asking is None,
            username=username,
            role=role,
            password=password,
            language=language,
            time_zone=time_zone,
        ),
    )
    click.echo(f"created console user {user.username} (role {user.role})")
    _say_pending(approval)


@users_cli.command("list")
@_cli_errors
def list_() -> None:
    """List console users (never their password hashes)."""
    click.echo(_table(_run(lambda users: users.list_users())))


def _table(rows: list[ConsoleUser]) -> str:
    head = ("USERNAME", "ROLE", "STATE", "LANGUAGE", "TIME ZONE", "LAST SIGN-IN")
    table = [
        (
            u.username,
            u.role,
            "active" if u.active else "disabled",
            u.language,
            u.time_zone,
            short_time(u.last_sign_in_at),
        )
        for u in rows
    ]
    return text_table(head, table)


@users_cli.command("disable")
@click.argument("username")
@_cli_errors
def disable(username: str) -> None:
    """Disable a user and end their sessions."""
    _set_disabled(username, True)


@users_cli.command("enable")
@click.argument("username")
@_cli_errors
def enable(username: str) -> None:
    """Enable a disabled user again."""
    _set_disabled(username, False)


def _set_disabled(username: str, disabled: bool) -> None:
    name = username.strip().lower()
    _run(lambda users: users.set_disabled(name, disabled, actor=_actor()))
    click.echo(
        f"disabled console user {name}; their sessions have ended"
        if disabled
        else f"enabled console user {name}"
    )


@users_cli.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from one line of standard input")
@_AS
@_cli_errors
def reset_password(username: str, password_stdin: bool, asking: str | None) -> None:
    """Set a new password (asked for twice, hidden) and end the user's sessions."""
    from access.identity import reset_password as reset

    name = username.strip().lower()
    password = read_password(password_stdin, confirm=True)
    approval = _run_as(
        asking,
        lambda users, access, acting: reset(users, access, acting, name, password, bootstrap=asking is None),
    )
    click.echo(f"password of console user {name} reset; their sessions have ended")
    _say_pending(approval)
