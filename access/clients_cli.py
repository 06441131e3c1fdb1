"""``piivault clients``: create, list and revoke API clients from the command line.

``create`` prints the new API key once; it is not stored anywhere in clear and
cannot be shown again. Run on a host with the service's ``PIIVAULT_*`` settings.

The command line is no side door around four eyes: a client with data access
(role service with purposes or permissions) is created by the admin named with
``--as``, and its key is refused until a DPO, another person, approves the
approval request printed here (``piivault approvals approve ID --as DPO``, which checks
that DPO's console password, :mod:`access.cli`). So is a client whose role approves
something (a ``dpo`` key, :mod:`access.identity`): without ``--as`` it is made only as
the very first approving identity (bootstrap: none exists yet, neither key nor console
user); once one exists, ``--as ADMIN`` files the request that another DPO approves.
The admin named with ``--as`` is a claim, not proven (the operator holds the service's
credentials): it asks, and the request's ``requested_by`` is ``cli:<login>``; only a
proven approver, another person, makes the key work.
"""

from __future__ import annotations

import datetime as dt

import click

from identity.clients.model import MAX_EXPIRY_DAYS, ROLES, WRITE_ATTRIBUTES, Client, has_data_access
from piivault.clikit import cli_actor, open_container, short_time, text_table
from piivault.clikit import handle_errors as _cli_errors


def _store_and_container():

    container = open_container()
    return container.clients, container


def _codes(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [c.strip() for c in raw.split(",") if c.strip()]


@click.group("clients")
def clients() -> None:
    """API clients and their keys."""


@clients.command("create")
@click.option("--name", required=True, help="what the client is, e.g. crm")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--purposes", default="", help="comma-separated purpose codes (service and analyst)")
@click.option("--field-types", default=None, help="comma-separated field types (default: no limit)")
@click.option("--person", default=None, help="the person behind the key (approvals count persons)")
@click.option(
    "--as",
    "asking",
    default=None,
    metavar="ADMIN",
    help="the admin asking (a console username); needed for a client with data access, which a DPO approves",
)
@click.option(
    "--expires-in",
    "expires_in",
    type=click.IntRange(1, MAX_EXPIRY_DAYS),
    default=None,
    metavar="DAYS",
    help="days until the key expires (default: never)",
)
@click.option(
    "--allow-attributes",
    "allow_attributes",
    is_flag=True,
    help="may replace subjects' risk attributes (POST /v1/attributes; service clients)",
)
@_cli_errors
def create(
    name: str,
    role: str,
    purposes: str,
    field_types: str | None,
    person: str | None,
    asking: str | None,
    expires_in: int | None,
    allow_attributes: bool,
) -> None:
    """Create a client and print its API key (shown once).

    A client with data access prints the approval request its key waits for.
    """
    from access import model as m
    from access.onboarding import create_client

    purpose_codes = _codes(purposes) or []
    permissions = [WRITE_ATTRIBUTES] if allow_attributes else []
    if has_data_access(role, purpose_codes, permissions) and asking is None:
        raise click.UsageError(
            "a service client with purposes or permissions reads data: name the admin asking with "
            "--as ADMIN; its key works once a DPO (another person) approves"
        )
    acting = m.Acting(_person(asking) if asking else None, "admin", cli_actor())
    store, container = _store_and_container()
    try:
        made = create_client(
            store,
            container.access,
            acting,
            bootstrap=asking is None,
            name=name,
            role=role,
            purposes=purpose_codes,
            field_types=_codes(field_types),
            expires_in=dt.timedelta(days=expires_in) if expires_in else None,
            person=person,
            permissions=permissions,
        )
    finally:
        container.close()
    client, approval = made.client, made.approval
    click.echo(f"created client {client.id} ({client.name}, role {client.role})", err=True)
    if approval is not None and approval.state == m.PENDING:
        what = "its approving role" if approval.action == m.IDENTITY_APPROVER else "its data access"
        click.echo(
            f"{what} waits for approval request {approval.id}: the key is refused "
            f"(client_pending_approval) until a DPO console user, not {approval.requester}, runs\n"
            f"  piivault approvals approve {approval.id} --as DPO   (asks for that user's password)",
            err=True,
        )
    elif approval is not None:
        click.echo(f"four-eyes is OFF for {approval.action}: approved as asked ({approval.id})", err=True)
    elif client.role in container.access.rules.approving_roles():
        click.echo("the first approving identity (bootstrap): no approval needed", err=True)
    click.echo("API key (shown once, store it now; only a keyed hash is kept):", err=True)
    click.echo(made.key)


def _person(raw: str) -> str:
    from identity.person import check_person

    try:
        return check_person(raw)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--as") from None


@clients.command("list")
@_cli_errors
def list_() -> None:
    """List clients (never their keys)."""
    store, container = _store_and_container()
    try:
        rows = store.list_clients()
    finally:
        container.close()
    click.echo(_table(rows))


def _table(rows: list[Client]) -> str:
    head = ("ID", "NAME", "ROLE", "STATE", "PURPOSES", "FIELD TYPES", "PERMISSIONS", "EXPIRES", "LAST USED")
    table = [
        (
            c.id,
            c.name,
            c.role,
            c.state,
            ",".join(c.purposes) or "-",
            "(any)" if c.field_types is None else ",".join(c.field_types) or "-",
            ",".join(c.permissions) or "-",
            short_time(c.expires_at),
            short_time(c.last_used_at),
        )
        for c in rows
    ]
    return text_table(head, table)


@clients.command("revoke")
@click.argument("client_id")
@_cli_errors
def revoke(client_id: str) -> None:
    """Revoke a client's key, at once and for good."""
    store, container = _store_and_container()
    try:
        client = store.revoke(client_id, actor=cli_actor())
    finally:
        container.close()
    click.echo(f"revoked client {client.id} ({client.name})")
