"""``piivault users``: the console's users, from the command line.

The first admin (and any user) is made here; passwords are read from a hidden
prompt (asked twice) or, for scripts, one line of standard input with
``--password-stdin``. They are never taken as an argument, where the process
list and shell history would keep them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from api.console.services.users import LANGUAGES, ROLES, ConsoleUser
from piivault.clikit import handle_errors as _cli_errors
from piivault.clikit import short_time, text_table


def _run(use: Callable[[Any], Any]) -> Any:
    from api.console.services import console_service
    from piivault.cli import _container

    container = _container()
    try:
        return use(console_service(container).users)
    finally:
        container.close()


def _actor() -> str:
    from api.clients.cli import cli_actor

    return cli_actor()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)


@click.group("users")
def users_cli() -> None:
    """Console users (roles dpo, auditor, admin) and their passwords."""


@users_cli.command("create")
@click.option("--username", required=True, help="2-64 lowercase letters, digits, '.', '_' or '-'")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True, help="read the password from one line of standard input")
@click.option("--language", type=click.Choice(LANGUAGES), default="zh", show_default=True)
@click.option("--time-zone", default=None, help="IANA time zone (default: PIIVAULT_CONSOLE_TIME_ZONE)")
@_cli_errors
def create(username: str, role: str, password_stdin: bool, language: str, time_zone: str | None) -> None:
    """Create a console user (the password is asked for twice, hidden)."""
    password = _password(password_stdin)
    user = _run(
        lambda users: users.create(
            username=username,
            role=role,
            password=password,
            actor=_actor(),
            language=language,
            time_zone=time_zone,
        )
    )
    click.echo(f"created console user {user.username} (role {user.role})")


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
@_cli_errors
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password (asked for twice, hidden) and end the user's sessions."""
    name = username.strip().lower()
    password = _password(password_stdin)
    _run(lambda users: users.reset_password(name, password, actor=_actor()))
    click.echo(f"password of console user {name} reset; their sessions have ended")
