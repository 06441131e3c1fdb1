"""``piivault consent ...`` and ``piivault jobs run``.

* ``consent verify-receipt FILE --public-key KEY`` checks a receipt or an
  erasure certificate offline (exit 0 valid, 1 not); without ``--public-key``
  it asks the configured service for the published key;
* ``consent public-key`` prints the published receipt key;
* ``consent import FILE`` imports consents (CSV or JSON), every row or none;
* ``jobs run`` carries out due consent expiries and scheduled shreds, and the
  extract service's scheduled work (expiries, queued jobs) (cron-safe).

Errors are one line (exit 2 configuration, 3 unavailable), as every command.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from consent import receipts
from piivault.clikit import cli_actor, open_container
from piivault.clikit import handle_errors as _handle_errors
from privacy.errors import ImportRejected, ReceiptInvalid


def _with_container(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:

        container = open_container()
        try:
            return fn(container, *args, **kwargs)
        finally:
            container.close()

    return wrapper


@click.group("consent")
def consent_cli() -> None:
    """Consent receipts and bulk import."""


@consent_cli.command("verify-receipt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    default=None,
    help="the published key (base64 or hex), or a FILE (or @FILE) holding it or the output of "
    "`piivault consent public-key`; default: ask the service",
)
@_handle_errors
def verify_receipt(file: Path, public_key: str | None) -> None:
    """Verify a signed consent receipt or erasure certificate (offline with --public-key)."""
    if public_key is None:
        key_text = _service_key()
    elif public_key.startswith("@"):
        key_text = Path(public_key[1:]).read_text(encoding="utf-8")
    elif Path(public_key).is_file():  # a key is never a file name: base64 or hex of 32 bytes
        key_text = Path(public_key).read_text(encoding="utf-8")
    else:
        key_text = public_key
    try:
        body = receipts.verify(file.read_bytes(), receipts.parse_public_key(key_text))
    except ReceiptInvalid as e:
        click.echo(f"invalid: {e.message}")
        sys.exit(1)
    what = body.get("consentReceiptID") or body.get("certificateID")
    click.echo(
        f"valid: {body.get('version')} {what} for subject {body.get('piiPrincipalId')}, "
        f"audit event {body.get('auditEventIndex')}"
    )


def _service_key() -> str:

    container = open_container()
    try:
        return container.consent.receipt_public_key()["public_key"]
    finally:
        container.close()


@consent_cli.command("public-key")
@_handle_errors
@_with_container
def public_key(container: Any) -> None:
    """Print the published receipt key as JSON (alg, key_id, public_key)."""
    click.echo(json.dumps(container.consent.receipt_public_key()))


@consent_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default=None, help="default: by extension"
)
@_handle_errors
@_with_container
def import_consents(container: Any, file: Path, fmt: str | None) -> None:
    """Import consents from CSV or JSON: every row, or none and the failing rows listed."""
    from privacy.model import Actor

    fmt = fmt or ("json" if file.suffix.lower() == ".json" else "csv")
    actor = Actor(cli_actor(), "admin")
    try:
        with container.uow() as uow:
            summary = container.consent.import_consents(uow, actor, file.read_bytes(), fmt)
    except ImportRejected as e:
        click.echo(f"piivault: {e.message}", err=True)
        for error in e.row_errors[:50]:
            click.echo(f"  row {error['row']}: {error['column']}: {error['rule']}", err=True)
        sys.exit(1)
    click.echo(json.dumps(summary))


@click.group("jobs")
def jobs_cli() -> None:
    """Scheduled work: consent expiries, shreds due at the end of holds, extract jobs and expiries."""


@jobs_cli.command("run")
@_handle_errors
@_with_container
def jobs_run(container: Any) -> None:
    """Run every due job once (idempotent; safe to run twice at once, e.g. from cron)."""
    report = container.consent.run_jobs().to_dict()
    # Extracts: expiries (pseudonym keys destroyed), stale jobs queued again, queued jobs run.
    report["extracts"] = container.extracts.run_jobs().to_dict()
    click.echo(json.dumps(report))
