"""``piivault audit ...``: the audit log from the command line.

Until the HTTP API serves them, auditors and DPOs reach the read functions of
:class:`audit.service.AuditLog` here. Output is JSON unless said otherwise;
``verify`` exits 0 only when everything holds, 1 when something does not, and
2/3 for configuration errors and unavailable dependencies (as every command).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from audit.note import NoteError, parse_verifier_key
from piivault.clikit import handle_errors as _handle_errors
from piivault.clikit import open_container

# `audit verify --record`: the result of a full verification, read back by /metrics.
VERIFIED_ACTION = "audit.verified"


def _with_audit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the container's audit service as the first argument and close the container after."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:

        container = open_container()
        try:
            return fn(container.audit, *args, **kwargs)
        finally:
            container.close()

    return wrapper


class _Time(click.ParamType):
    name = "TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail("expected an ISO 8601 time, e.g. 2026-01-31T09:00:00+08:00", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


TIME = _Time()
TIME_HELP = "ISO 8601; UTC when no offset is given"


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@click.group("audit")
def audit_cli() -> None:
    """The tamper-evident audit log: sequence, checkpoint, prove, verify, search."""


@audit_cli.command("sequence")
@click.option("--loop", is_flag=True, help="keep running (the background worker) until SIGTERM/Ctrl-C")
@click.option("--interval", type=click.FloatRange(0.01, 60), default=None, help="seconds between rounds")
@_handle_errors
@_with_audit
def sequence(audit: Any, loop: bool, interval: float | None) -> None:
    """Integrate queued events into the log (and cut checkpoints that are due)."""
    if not loop:
        count = audit.sequencer.drain()
        click.echo(f"integrated {count} event(s); log size {audit.size()}")
        return
    interval = interval or min(1.0, audit.merge_delay / 4)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"audit sequencer running every {interval:g}s", err=True)
    audit.sequencer.run(stop, interval=interval)


@audit_cli.command("checkpoint")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="also save the note to FILE")
@_handle_errors
@_with_audit
def checkpoint(audit: Any, out: str | None) -> None:
    """Integrate the queue, cut a signed checkpoint now and print it (C2SP note)."""
    record = audit.checkpoint_now()
    if out:
        Path(out).write_text(record.note, encoding="utf-8")
    click.echo(record.note, nl=False)


@audit_cli.command("publish")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="the tiles directory (default: PIIVAULT_AUDIT_TILES_DIR)",
)
@click.option("--checkpoint/--no-checkpoint", "cut", default=True, show_default=True, help="cut one first")
@_handle_errors
@_with_audit
def publish(audit: Any, directory: str | None, cut: bool) -> None:
    """Write the log as C2SP tlog-tiles (checkpoint, tile/...) up to the newest checkpoint."""
    result = audit.publish_tiles(Path(directory) if directory else None, cut=cut)
    click.echo(f"tiles published at size {result.size} ({result.written} tile(s) and bundle(s) written)")


@audit_cli.command("restore-tail")
@click.option(
    "--from",
    "directory",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="the tiles directory (PIIVAULT_AUDIT_TILES_DIR, or a copy of it)",
)
@_handle_errors
@_with_audit
def restore_tail(audit: Any, directory: str) -> None:
    """After a database restore: re-import the events the tiles hold beyond the restored log.

    Checked against the tiles' signed checkpoint and the pinned key; refused, with
    nothing imported, on any mismatch. Run it before anything records new events.
    """
    result = audit.restore_tail(Path(directory))
    click.echo(
        f"audit log restored from {result.before} to {result.after} event(s) "
        f"({result.imported} re-imported from the tiles)"
    )


@audit_cli.command("public-key")
@_handle_errors
@_with_audit
def public_key(audit: Any) -> None:
    """Print the checkpoint verifier key (signed-note format) to publish."""
    click.echo(audit.public_key())


@audit_cli.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="a checkpoint note saved earlier, outside the database (repeat for several: each is checked)",
)
@click.option(
    "--key",
    "vkey",
    help="the published verifier key; with it, only database read access is needed (no Vault)",
)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="processes (default: CPUs)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option(
    "--record",
    is_flag=True,
    help=f"record the result in the audit log ({VERIFIED_ACTION}); /metrics then shows it (a scheduled job)",
)
@_handle_errors
def verify(
    checkpoint_files: tuple[str, ...], vkey: str | None, workers: int | None, as_json: bool, record: bool
) -> None:
    """Recompute the chain and the tree and check every checkpoint; exit 0 only if all holds.

    The report says which trust anchor it used: the key given with --key, or else
    the key pinned outside the database (PIIVAULT_AUDIT_PUBLIC_KEY or its file),
    which the keyring's key must equal.
    """
    saved = [Path(f).read_text(encoding="utf-8") for f in checkpoint_files]
    if vkey and record:
        raise click.BadParameter(
            "--key verifies with read access only: it cannot record", param_hint="--record"
        )
    if vkey:
        report = _verify_with_key(vkey, saved, workers)
    else:

        container = open_container()
        try:
            report = container.audit.verify(saved_checkpoints=saved, workers=workers)
            if record:
                record_verification(container, report)
        finally:
            container.close()
    if as_json:
        _echo_json(report.to_dict())
    else:
        for line in report.summary():
            click.echo(line)
    if not report.ok:
        sys.exit(1)


def record_verification(container: Any, report: Any) -> None:
    """The result of a full verification, as an audit event that /metrics reads back.

    Recorded failed too: the alert on ``piivault_audit_verification_ok`` fires on it, and
    the one on its age fires when no run records anything at all.
    """
    from audit.events import AuditEvent
    from piivault.clikit import cli_actor
    from piivault.db import UnitOfWork

    details = {"ok": report.ok, "events": report.events, "problems": report.problem_count}
    event = AuditEvent(
        action=VERIFIED_ACTION,
        actor=cli_actor(),
        outcome="success" if report.ok else "error",
        reason="audit verify --record",
        details=details,
    )
    with UnitOfWork(container.session_factory, container.audit_sink) as uow:
        uow.record(event)
        uow.commit()


def _verify_with_key(vkey: str, saved: list[str], workers: int | None) -> Any:
    # Trust nothing stored beside the log: no container, no keyring, no Vault.
    from audit.anchor import TrustAnchor
    from audit.verify import verify_log
    from piivault.db import make_engine, utcnow
    from piivault.settings import Settings

    settings = Settings.from_env()
    try:
        parsed = parse_verifier_key(vkey)
    except NoteError as e:
        raise click.BadParameter(str(e), param_hint="--key") from None
    if parsed.name != settings.audit_origin:
        raise click.BadParameter(
            f"the key is for {parsed.name!r}, this log is {settings.audit_origin!r}", param_hint="--key"
        )
    engine = make_engine(settings.require("DATABASE_URL"))
    try:
        report = verify_log(
            engine,
            origin=settings.audit_origin,
            public_key=parsed.public_key,
            saved_checkpoints=saved,
            merge_delay=settings.audit_merge_delay,
            now=utcnow(),
            workers=workers,
        )
    finally:
        engine.dispose()
    report.trust_anchor = TrustAnchor(parsed.public_key, "the key given with --key").describe(parsed.name)
    return report


@audit_cli.command("proof")
@click.option("--seq", required=True, type=click.IntRange(0), help="the event's sequence number")
@click.option("--size", type=click.IntRange(1), default=None, help="tree size (default: latest checkpoint)")
@_handle_errors
@_with_audit
def proof(audit: Any, seq: int, size: int | None) -> None:
    """RFC 6962 inclusion proof of one event."""
    _echo_json(audit.inclusion_proof(seq, size).to_dict())


@audit_cli.command("consistency")
@click.option("--size1", required=True, type=click.IntRange(0))
@click.option("--size2", type=click.IntRange(0), default=None, help="default: latest checkpoint")
@_handle_errors
@_with_audit
def consistency(audit: Any, size1: int, size2: int | None) -> None:
    """RFC 6962 consistency proof between two tree sizes."""
    _echo_json(audit.consistency_proof(size1, size2).to_dict())


@audit_cli.command("search")
@click.option("--subject")
@click.option("--actor")
@click.option("--action")
@click.option("--since", type=TIME, help=TIME_HELP + " (inclusive)")
@click.option("--until", type=TIME, help=TIME_HELP + " (exclusive)")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--cursor", help="next_cursor from the previous page")
@_handle_errors
@_with_audit
def search(audit: Any, **filters: Any) -> None:
    """Events by subject, actor, action and time range, oldest first."""
    _echo_json(audit.search_events(**filters).to_dict())


@audit_cli.command("exposure")
@click.option("--actor", required=True, help="the client or user whose credential is in question")
@click.option("--since", required=True, type=TIME, help=TIME_HELP + " (inclusive)")
@click.option("--until", required=True, type=TIME, help=TIME_HELP + " (exclusive)")
@_handle_errors
@_with_audit
def exposure(audit: Any, actor: str, since: dt.datetime, until: dt.datetime) -> None:
    """The subjects whose data ACTOR detokenized in [SINCE, UNTIL)."""
    _echo_json(audit.exposure(actor, since, until).to_dict())


@audit_cli.command("export")
@click.option("--subject", required=True, help="the subject id")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="write to FILE instead of stdout")
@click.option(
    "--checkpoint/--no-checkpoint",
    "cut",
    default=True,
    show_default=True,
    help="cut a checkpoint first so every event gets a proof",
)
@_handle_errors
@_with_audit
def export(audit: Any, subject: str, out: str | None, cut: bool) -> None:
    """A subject's events with inclusion proofs (data-subject access request)."""
    if cut:
        audit.checkpoint_now()
    data = audit.export_subject(subject).to_dict()
    if out:
        Path(out).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        click.echo(f"{len(data['events'])} event(s) written to {out}", err=True)
    else:
        _echo_json(data)
