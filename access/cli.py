"""``piivault approvals``, ``piivault grants``, ``piivault break-glass``.

**Who decides is proven.** The deciding commands (``approvals approve|deny``,
``grants revoke``, ``break-glass review``) act as the console user named with
``--as USER``, and read that user's console password (a hidden prompt, or one
line of standard input with ``--password-stdin``), checked exactly as the
console's sign-in checks it (:meth:`SessionStore.verify
<identity.users.sessions.SessionStore.verify>`): the same lock-out, the
same ``console.sign_in`` audit event, its details saying ``via: cli:<login>``.
An unknown user, a wrong password, a disabled or locked-out user, a user in an
approving role whose identity is not approved (:func:`access.identity.user_approved`)
and a ``--role`` other than the user's are refused in one line (exit status 2)
and audited as a failed sign-in. The decision is then the user's as in their
console session: audit actor ``user:<name>``, the four-eyes rules applied to
that person. ``--role`` may be left out (a console user has one role, and that
is the role acted in); given, it must be the user's, so the commands printed by
earlier versions (``--as DPO --role dpo``) keep working and a mismatch is
refused rather than ignored.

**Who asks is a claim.** The commands that *ask* for something
(``clients create --as``, ``users create|reset-password --as``,
``extract reidentify --as``) take the person named on trust: their operator
holds the service's database and Vault credentials. Such a request is filed
under that person with ``requested_by`` ``cli:<login>``, and achieves nothing
until a proven approver, another person, approves it; the credential that
asked never decides, whatever person it names (:meth:`AccessService.approve
<access.service.AccessService.approve>`), and a decision typed at a terminal carries that
terminal (``Acting.via``): the login that filed a request cannot approve it by proving
another console user's password there.
"""

from __future__ import annotations

import click

from access import model as m
from access.rules import APPROVER_ROLES
from identity.person import check_person
from piivault.clikit import cli_actor, handle_errors, open_container, read_password, short_time, text_table
from piivault.errors import Forbidden


def _access():

    container = open_container()
    return container.access, container


# What a refused proof says: only after the password matched does it say more than the
# console's sign-in page would (the audit log always records the reason).
_REFUSED = {
    "wrong_role": "{user} is not a console user in the role {role}",
    "pending_approval": "{user} has an approving role that awaits another DPO's approval (identity.approver)",
}
_FAILED = (
    "{user}: authentication failed (no such enabled console user, a wrong password, or locked out "
    "after repeated failures; the audit log records which)"
)


def _decider(container, person: str, role: str | None, password_stdin: bool) -> m.Acting:
    """The console user named by ``--as``, proven by their password (see the module's docstring)."""
    from identity.users.errors import SignInFailed

    try:
        name = check_person(person)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--as") from None
    password = read_password(password_stdin, confirm=False, prompt=f"Console password of {name}")
    via = cli_actor()  # as a request filed at this terminal names it (requested_by)
    try:
        user = container.sessions.verify(name, password, address=via, via=via, role=role)
    except SignInFailed as e:
        raise Forbidden(_REFUSED.get(e.reason, _FAILED).format(user=name, role=role)) from None
    return m.Acting(user.username, user.role, user.actor, via=via)


def _as_options(fn):
    fn = click.option(
        "--password-stdin",
        is_flag=True,
        help="read the user's console password from one line of standard input (else a hidden prompt)",
    )(fn)
    fn = click.option(
        "--role",
        default=None,
        type=click.Choice(APPROVER_ROLES),
        help="the role acted in: the user's own (checked; default: the user's role)",
    )(fn)
    return click.option(
        "--as",
        "person",
        required=True,
        metavar="USER",
        help="the console user deciding; their console password is asked for and checked",
    )(fn)


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
    def decide(approval_id: str, person: str, role: str | None, password_stdin: bool) -> None:
        access, container = _access()
        try:
            found = getattr(access, name)(_decider(container, person, role, password_stdin), approval_id)
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
def revoke(grant_id: str, person: str, role: str | None, password_stdin: bool) -> None:
    """Revoke a grant early (its holder, or an approver of its action)."""
    access, container = _access()
    try:
        grant = access.revoke(_decider(container, person, role, password_stdin), grant_id)
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
def review(grant_id: str, note: str, person: str, role: str | None, password_stdin: bool) -> None:
    """Review a break-glass use (another person than the one who took it)."""
    access, container = _access()
    try:
        grant = access.review(_decider(container, person, role, password_stdin), grant_id, note)
    finally:
        container.close()
    click.echo(f"{grant.id}: reviewed by {grant.reviewed_by}")
