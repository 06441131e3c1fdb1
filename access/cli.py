"""``piivault approvals``, ``piivault grants``, ``piivault break-glass``.

The command line acts for the person named with ``--as`` in the role given
with ``--role`` (the audit actor is ``cli:<login>``). Its operator already
holds the service's database and Vault credentials, so these commands trust
that naming; the four-eyes rules then apply to the person named, exactly as
over HTTP, and the audit log records both the person and the login.
"""

from __future__ import annotations

import click

from access import model as m
from access.rules import APPROVER_ROLES
from identity.person import check_person
from piivault.clikit import handle_errors, open_container, short_time, text_table


def _access():

    container = open_container()
    return container.access, container


def _acting(person: str, role: str) -> m.Acting:
    import getpass

    try:
        login = getpass.getuser()
    except Exception:  # no user name (e.g. a container without passwd entry)
        login = "operator"
    try:
        person = check_person(person)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--as") from None
    return m.Acting(person, role, f"cli:{login}"[:128])


def _as_options(fn):
    fn = click.option("--role", required=True, type=click.Choice(APPROVER_ROLES), help="the role acted in")(
        fn
    )
    return click.option("--as", "person", required=True, help="the person acting (a console username)")(fn)


def _requests_table(rows: list[m.ApprovalRequest]) -> str:
    head = ("ID", "ACTION", "TARGET/SUBJECTS", "REQUESTER", "STATE", "APPROVALS", "EXPIRES")
    return text_table(
        head,
        [
            (
                r.id,
                r.action,
                r.scope.target or ",".join(r.scope.subjects) or "-",
                r.requester,
                r.state,
                f"{len(r.approvals)}/{r.approvals_needed} {','.join(a.person for a in r.approvals)}".strip(),
                short_time(r.expires_at),
            )
            for r in rows
        ],
    )


def _grants_table(rows: list[m.Grant], now) -> str:
    head = (
        "ID",
        "KIND",
        "ACTION",
        "TARGET/SUBJECTS",
        "HOLDER",
        "STATE",
        "APPROVED BY",
        "UNTIL",
        "REVIEWED BY",
    )
    return text_table(
        head,
        [
            (
                g.id,
                g.kind,
                g.action,
                g.scope.target or ",".join(g.scope.subjects) or "-",
                g.holder,
                g.state_at(now),
                ",".join(g.approved_by) or "-",
                short_time(g.expires_at),
                g.reviewed_by or ("-" if g.kind == m.APPROVAL else "UNREVIEWED"),
            )
            for g in rows
        ],
    )


@click.group("approvals")
def approvals_cli() -> None:
    """Approval requests (four eyes)."""


@approvals_cli.command("list")
@click.option("--state", type=click.Choice(m.STATES), default=None)
@click.option("--action", type=click.Choice(m.ACTIONS), default=None)
@click.option("--requester", default=None, help="a person")
@handle_errors
def list_requests(state: str | None, action: str | None, requester: str | None) -> None:
    """List approval requests, newest first."""
    access, container = _access()
    try:
        rows = access.list_requests(state=state, action=action, requester=requester)
    finally:
        container.close()
    click.echo(_requests_table(rows))


def _decide(name: str, help_text: str) -> None:
    @approvals_cli.command(name, help=help_text)
    @click.argument("approval_id")
    @_as_options
    @handle_errors
    def decide(approval_id: str, person: str, role: str) -> None:
        access, container = _access()
        try:
            found = getattr(access, name)(_acting(person, role), approval_id)
        finally:
            container.close()
        grant = f", grant {found.grant_id}" if found.grant_id else ""
        click.echo(
            f"{found.id}: {found.state} ({len(found.approvals)}/{found.approvals_needed} approvals{grant})"
        )


_decide("approve", "Approve a request as another person than its requester.")
_decide("deny", "Deny a request (final).")


@click.group("grants")
def grants_cli() -> None:
    """Grants: approved requests and break-glass uses."""


@grants_cli.command("list")
@click.option("--holder", default=None)
@click.option("--active/--all", default=True, help="active grants only (default)")
@handle_errors
def list_grants(holder: str | None, active: bool) -> None:
    """List grants, newest first."""
    access, container = _access()
    try:
        rows = access.list_grants(holder=holder, active=True if active else None)
        now = access.clock()
    finally:
        container.close()
    click.echo(_grants_table(rows, now))


@grants_cli.command("revoke")
@click.argument("grant_id")
@_as_options
@handle_errors
def revoke(grant_id: str, person: str, role: str) -> None:
    """Revoke a grant early."""
    access, container = _access()
    try:
        grant = access.revoke(_acting(person, role), grant_id)
    finally:
        container.close()
    click.echo(f"{grant.id}: revoked")


@click.group("break-glass")
def break_glass_cli() -> None:
    """Break-glass uses and their reviews."""


@break_glass_cli.command("list")
@click.option("--unreviewed", is_flag=True, help="only those nobody has reviewed yet")
@handle_errors
def list_break_glass(unreviewed: bool) -> None:
    """List break-glass uses, newest first."""
    access, container = _access()
    try:
        rows = access.list_grants(kind=m.BREAK_GLASS, unreviewed=unreviewed)
        now = access.clock()
    finally:
        container.close()
    click.echo(_grants_table(rows, now))


@break_glass_cli.command("review")
@click.argument("grant_id")
@click.option("--note", required=True, help="what the review found (no identifiers)")
@_as_options
@handle_errors
def review(grant_id: str, note: str, person: str, role: str) -> None:
    """Review a break-glass use (another person than the one who took it)."""
    access, container = _access()
    try:
        grant = access.review(_acting(person, role), grant_id, note)
    finally:
        container.close()
    click.echo(f"{grant.id}: reviewed by {grant.reviewed_by}")
