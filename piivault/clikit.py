"""What every ``piivault`` command group shares: error handling, plain-text tables, the actor.

A leaf module (click and :mod:`piivault.errors` only), so that the command
groups of every package can import it directly; :mod:`piivault.cli`, which
imports those groups, re-exports :func:`handle_errors`.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from piivault.errors import PiivaultError, UnavailableError


def fail(message: str, status: int) -> None:
    """Print ``piivault: message`` on stderr (each line of it) and exit with ``status``."""
    for line in message.splitlines():
        click.echo(f"piivault: {line}", err=True)
    sys.exit(status)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn piivault's errors into one line on stderr and an exit status (3: a dependency
    is unavailable, 2: anything else piivault refused, 130: interrupted)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UnavailableError as e:
            fail(e.message, 3)
        except PiivaultError as e:
            fail(e.message, 2)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


def read_password(from_stdin: bool, *, confirm: bool, prompt: str = "Password") -> str:
    """A password: one line of standard input (scripts: ``--password-stdin``) or a hidden
    prompt on the terminal (asked twice when ``confirm``). Never an argument, where the
    process list and shell history would keep it."""
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)


def short_time(value: dt.datetime | None) -> str:
    """A time as a table shows it, to the minute; ``-`` for none."""
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, under a heading line."""
    lines = [tuple(head), *(tuple(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def cli_actor() -> str:
    """The audit actor for a command run by the operator at this terminal."""
    try:
        return f"cli:{getpass.getuser()}"[:128]  # the audit actor column's width
    except Exception:  # no user name (e.g. a container without passwd entry)
        return "cli"


def open_container(**overrides: Any) -> Any:
    """The running command's container (:class:`piivault.container.Container`), made by the
    factory the root ``piivault`` group puts in its context; settings ``overrides`` go to it.

    The command groups of every package open their container here, so that none imports the
    composition root. Raises RuntimeError outside a ``piivault`` command.
    """
    factory = click.get_current_context().find_root().obj
    if factory is None:
        raise RuntimeError("open_container() runs inside a `piivault` command")
    return factory(**overrides)
