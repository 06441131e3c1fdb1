"""The ``piivault`` command line.

Errors come out as one line, ``piivault: <what to fix>``, with exit status 2
(configuration) or 3 (a dependency is unavailable); no tracebacks.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from piivault import devenv
from piivault.clikit import handle_errors
from piivault.errors import ConfigurationError
from piivault.settings import Settings

log = logging.getLogger("piivault")


def _container(**overrides: Any):
    from piivault import logs
    from piivault.container import build_container

    settings = Settings.from_env(**overrides)
    logs.configure(settings.log_format, settings.log_level)
    return build_container(settings)


# The command groups of the other packages, imported only when one of them runs:
# `piivault clients list` does not load the console's or extracts' code, and `piivault --help`
# shows each group's first help line from here (tests/cli/test_lazy_groups.py keeps them equal).
LAZY_GROUPS = {
    "clients": ("access.clients_cli:clients", "API clients and their keys."),
    "audit": (
        "audit.cli:audit_cli",
        "The tamper-evident audit log: sequence, checkpoint, prove, verify, search.",
    ),
    "consent": ("consent.cli:consent_cli", "Consent receipts and bulk import."),
    "jobs": (
        "consent.cli:jobs_cli",
        "Scheduled work: consent expiries, shreds due at the end of holds, extract jobs and expiries.",
    ),
    "anonymize": ("anonymize.cli:anonymize_cli", "Anonymize free text; seed demo data."),
    "extract": (
        "anonymize.extract.cli:extract_cli",
        "Anonymized, consent-filtered extracts for risk scoring.",
    ),
    "users": ("access.users_cli:users_cli", "Console users (roles dpo, auditor, admin) and their passwords."),
    "approvals": ("access.cli:approvals_cli", "Approval requests (four eyes)."),
    "grants": ("access.cli:grants_cli", "Grants: approved requests and break-glass uses."),
    "break-glass": ("access.cli:break_glass_cli", "Break-glass uses and their reviews."),
}


def load_group(name: str) -> click.Command:
    """Import the command group ``name`` of :data:`LAZY_GROUPS`."""
    module, attr = LAZY_GROUPS[name][0].split(":")
    return getattr(importlib.import_module(module), attr)


class _Piivault(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_GROUPS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_GROUPS:
            return load_group(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click would import every group to read its help; the stand-ins carry the first line.
        commands = {name: cmd for name, cmd in self.commands.items() if not cmd.hidden}
        commands.update({name: click.Command(name, help=text) for name, (_, text) in LAZY_GROUPS.items()})
        limit = formatter.width - 6 - max(map(len, commands))
        with formatter.section("Commands"):
            formatter.write_dl(
                [(name, commands[name].get_short_help_str(limit)) for name in sorted(commands)]
            )


@click.group(cls=_Piivault)
@click.version_option(package_name="piivault")
@click.pass_context
def main(ctx: click.Context) -> None:
    """piivault: privacy data vault and consent service.

    In a directory where `piivault dev` runs, every command uses the development
    settings it wrote to ./var/dev.env, unless a PIIVAULT_* setting is given (never with
    PIIVAULT_ENV=production).
    """
    # The command groups of the other packages open their container through this factory
    # (piivault.clikit.open_container): they never import the root.
    ctx.obj = _container
    # `piivault dev` writes that file: it reads its own settings, never a stale copy of them.
    if ctx.invoked_subcommand != "dev" and devenv.use_if_present():
        click.echo(f"piivault: using the development settings in ./{devenv.FILE} (piivault dev)", err=True)


# -- db ---------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@handle_errors
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations."""
    from piivault import migrate
    from piivault.db import check_database

    container = _container()
    try:
        check_database(container.engine)
        migrate.upgrade(container.engine, revision)
        at = ", ".join(sorted(migrate.current_revisions(container.engine)))
        click.echo(f"database at revision {at}")
    finally:
        container.close()


# -- keys -------------------------------------------------------------------
@main.group()
def keys() -> None:
    """The KEK in Vault and the data keys it wraps."""


@keys.command("bootstrap")
@handle_errors
def keys_bootstrap() -> None:
    """Create the Transit mount and KEK if missing, and the system keys."""
    from piivault.bootstrap import bootstrap

    container = _container()
    try:
        info = bootstrap(container)
        click.echo(f"KEK {info.name} ready (latest version {info.latest_version})")
    finally:
        container.close()


@keys.command("unwrap-secret-id")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="where to write the secret id (a memory-backed volume), read as PIIVAULT_VAULT_SECRET_ID_FILE",
)
@handle_errors
def keys_unwrap_secret_id(out: str) -> None:
    """Unwrap the AppRole secret id of PIIVAULT_VAULT_WRAPPED_SECRET_ID(_FILE), once (an init step)."""
    from vault.providers.wrapping import unwrap_secret_id

    target = Path(out)
    if target.exists() and target.stat().st_size:
        # A restarted pod keeps its memory volume; its wrapping token is spent already.
        click.echo(f"{out} already holds this pod's secret id")
        return
    settings = Settings.from_env()
    secret_id = unwrap_secret_id(
        settings.require("VAULT_ADDR"),
        settings.require("VAULT_WRAPPED_SECRET_ID"),
        approle_mount=settings.vault_approle_mount,
        namespace=settings.vault_namespace,
        cacert=settings.vault_cacert,
        timeout=settings.vault_timeout,
    )
    partial = target.with_name(target.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret_id)
    os.replace(partial, target)
    click.echo(f"secret id unwrapped to {out}")


@keys.command("status")
@handle_errors
def keys_status() -> None:
    """KEK versions and how many data keys each wraps."""
    container = _container()
    try:
        with container.session_factory() as session:
            st = container.keyring.status(session)
        kek = st.kek
        click.echo(f"provider:               {st.provider}")
        click.echo(f"KEK:                    {kek.name} ({kek.key_type})")
        click.echo(f"latest version:         {kek.latest_version}")
        click.echo(f"min decryption version: {kek.min_decryption_version}")
        click.echo(f"usable versions:        {', '.join(map(str, kek.versions))}")
        click.echo(f"data keys:              {st.total_deks}")
        for version, count in st.deks_by_version.items():
            marker = "" if version == kek.latest_version else "  (rewrap pending)"
            click.echo(f"  on v{version}: {count}{marker}")
        click.echo(f"erased subjects:        {st.erasures}")
    finally:
        container.close()


@keys.command("rotate")
@handle_errors
def keys_rotate() -> None:
    """Rotate the Transit KEK; new data keys use the new version."""
    container = _container()
    try:
        info = container.provider.rotate()
        click.echo(f"KEK {info.name} rotated to version {info.latest_version}")
        click.echo("run `piivault keys rewrap` to move existing data keys to it")
    finally:
        container.close()


@keys.command("rewrap")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--max-batches", default=None, type=click.IntRange(1), help="stop after N batches")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: on a TTY)")
@handle_errors
def keys_rewrap(batch_size: int, max_batches: int | None, progress: bool | None) -> None:
    """Rewrap every data key to the newest KEK version (resumable, data untouched)."""
    from tqdm import tqdm

    container = _container()
    try:
        with container.session_factory() as session:
            total = container.keyring.outdated_count(session)
        show = sys.stderr.isatty() if progress is None else progress
        with tqdm(total=total, unit="key", disable=not show, desc="rewrap") as bar:
            report = container.keyring.rewrap(
                container.session_factory,
                batch_size=batch_size,
                progress=bar.update,
                max_batches=max_batches,
            )
        click.echo(
            f"rewrapped {report.rewrapped} data key(s) to KEK v{report.target_version}; "
            f"{report.remaining} remaining"
        )
        if report.remaining:
            sys.exit(1)
    finally:
        container.close()


@keys.command("retire")
@handle_errors
def keys_retire() -> None:
    """Set min_decryption_version to the oldest KEK version still in use."""
    container = _container()
    try:
        with container.session_factory() as session:
            info = container.keyring.retire_old_versions(session)
        click.echo(f"KEK versions below {info.min_decryption_version} retired")
    finally:
        container.close()


@keys.command("replay-erasures")
@click.option(
    "--rewrap-retired",
    is_flag=True,
    help="a restored backup holds data keys wrapped with retired KEK versions: lower "
    "min_decryption_version for the time of a rewrap, then set it back (operator's Vault policy)",
)
@handle_errors
def keys_replay_erasures(rewrap_retired: bool) -> None:
    """After a database restore: re-shred every subject in the erasure ledger, destroy its extract keys."""
    container = _container()
    try:
        keyring = container.keyring
        with container.session_factory() as session:
            retired = keyring.retired_count(session)
        if retired and not rewrap_retired:
            raise ConfigurationError(
                f"{retired} data key(s) are wrapped with retired KEK versions (a backup older than "
                "`keys retire`): run `piivault keys replay-erasures --rewrap-retired` with the "
                "operator's Vault token"
            )
        with container.session_factory() as session:
            report = keyring.replay_erasures(session)
            session.commit()  # erased subjects' keys are gone before any key is rewrapped
        if retired:
            record = _kek_change_recorder(container)
            moved = keyring.rewrap_retired(container.session_factory, on_change=record)
            click.echo(
                f"rewrapped {moved.rewrapped} data key(s) of the backup: min_decryption_version was "
                f"lowered to {moved.lowered_to} for it and is {moved.restored_to} again"
            )
        with container.session_factory() as session:
            # Restored token rows still carry blind indexes and sealed values: drop them too.
            forgotten = container.tokenization.forget_erased(session, report.subject_ids)
            consents = container.consent.forget_erased(session, report.subject_ids)
            session.commit()
        click.echo(
            f"ledger entries: {report.ledger_entries}; data keys destroyed: {report.shredded}; "
            f"ledger rows restored: {report.recorded}; token values dropped: {forgotten}; "
            f"consent records dropped: {consents}; extract keys destroyed: {report.system_keys_destroyed}"
        )
    finally:
        container.close()


KEK_LOWERED = "keys.min_decryption_version_lowered"
KEK_RESTORED = "keys.min_decryption_version_restored"


def _kek_change_recorder(container: Any) -> Callable[[str, int, int], None]:
    """Record, in the audit log, min_decryption_version lowered for a restore's rewrap and set back.

    The lowering is recorded (and committed) before any key is rewrapped: if the event
    cannot be written, the version is set back and nothing is rewrapped. The events are
    only queued, not sequenced: the restored log's head stays where the backup left it,
    so that `piivault audit restore-tail` can still put the published tail back before
    them (the next sequencer step integrates them after it).
    """
    from audit.events import AuditEvent
    from piivault.clikit import cli_actor
    from piivault.db import UnitOfWork

    def record(what: str, version: int, other: int) -> None:
        if what == "lowered":
            action, details = KEK_LOWERED, {"min_decryption_version": version, "was": other}
        else:
            action, details = KEK_RESTORED, {"min_decryption_version": version, "rewrapped": other}
        with UnitOfWork(container.session_factory, container.audit_sink) as uow:
            uow.record(
                AuditEvent(action=action, actor=cli_actor(), reason="restore of a backup", details=details)
            )
            uow.commit()

    return record


@keys.group("ledger")
def keys_ledger() -> None:
    """The erasure ledger file: check it, mend a torn last line (needs only PIIVAULT_ERASURE_LEDGER)."""


def _ledger() -> Any:
    from vault import ErasureLedger

    settings = Settings.from_env()
    path = settings.erasure_ledger
    if not path:
        raise ConfigurationError("set PIIVAULT_ERASURE_LEDGER to the erasure ledger file")
    return ErasureLedger(path)


@keys_ledger.command("check")
@handle_errors
def keys_ledger_check() -> None:
    """Read every line and check the hash chain; exit 1 on a torn last line or a break."""
    report = _ledger().check()
    last = "-" if report.last_seq is None else report.last_seq
    click.echo(f"erasure ledger: {report.path} ({report.size} bytes)")
    click.echo(f"entries:        {report.entries} (last seq {last})")
    if report.problem is not None:
        click.echo(f"FAILED: {report.problem}; restore the file from its replica")
    elif report.torn_at is not None:
        whole = " (a whole entry without its line end)" if report.tail_is_entry else ""
        click.echo(
            f"TORN: the last line, {report.torn_bytes} byte(s) from byte {report.torn_at}, was not "
            f"written completely{whole}; run `piivault keys ledger repair`"
        )
    else:
        click.echo("ok")
    if not report.ok:
        sys.exit(1)


@keys_ledger.command("repair")
@handle_errors
def keys_ledger_repair() -> None:
    """Cut off a torn last line after keeping a copy of the file (nothing else is ever changed)."""
    from piivault.db import utcnow

    done = _ledger().repair(utcnow())
    if done.copy is None:
        click.echo("nothing to repair: the ledger has no torn last line")
    elif done.completed_entry:
        click.echo(f"the last entry was whole but for its line end: completed; copy kept at {done.copy}")
    else:
        click.echo(f"removed the torn last line ({done.removed_bytes} byte(s)); copy kept at {done.copy}")


@main.command("check")
@handle_errors
def check() -> None:
    """Run the start-up checks (database, schema, Vault, erasure ledger) and exit."""
    from piivault.container import startup_check

    Settings.from_env().require_production()  # every missing setting at once, before the first
    container = _container()
    try:
        startup_check(container)
        click.echo("ok: database, schema, Vault key and erasure ledger are ready")
        _warn_if_queue_stale(container)
    finally:
        container.close()


def _warn_if_queue_stale(container: Any) -> None:
    """Say so when queued audit events have waited past the merge delay: nothing is chaining
    them (production requests only queue, and `piivault audit sequence --loop` must run beside
    the API, issue 22). A warning, not a failure: a check may run before the sequencer starts
    (deploy/backup/restore.sh)."""
    from audit.activity import oldest_queued
    from piivault.db import utcnow

    with container.session_factory() as session:
        oldest = oldest_queued(session)
    delay = container.settings.audit_merge_delay
    if oldest is not None and (waited := (utcnow() - oldest).total_seconds()) > delay:
        click.echo(
            f"warning: queued audit events have waited {waited:.0f}s, longer than "
            f"PIIVAULT_AUDIT_MERGE_DELAY ({delay:g}s): is `piivault audit sequence --loop` running?",
            err=True,
        )


# -- serving ----------------------------------------------------------------
@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 30),
    help="threads per worker, at most the 30 connections of a worker's pool "
    "(docs/operations.md weighs the count)",
)
@handle_errors
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the API with gunicorn (production)."""
    from piivault.wsgi import run_gunicorn

    run_gunicorn(host, port, workers, threads=threads)


@main.command("dev")
@click.option("--port", type=int, help="default 8080, or a free port when another program holds 8080")
@click.option("--var", "var_dir", default="var", show_default=True, type=click.Path(file_okay=False))
@click.option("--new-admin-key", is_flag=True, help="create another admin client and print its key")
@handle_errors
def dev(port: int | None, var_dir: str, new_admin_key: bool) -> None:
    """Development mode: SQLite under ./var, a local OpenBao, the app on 127.0.0.1."""
    from piivault.devmode import run_dev

    run_dev(Path(var_dir), port, new_admin_key=new_admin_key)


if __name__ == "__main__":  # pragma: no cover
    main()
