"""``piivault extract``: anonymized extracts at the terminal, against the configured vault.

* ``extract run SPEC --out DIR`` queues the spec as a job, runs it here with a
  progress bar (the population and rows come from the vault, consent-filtered;
  ``--engine spark --spark-master local[2]`` override the spec's engine)
  and copies its files to DIR; the job, its audit events, its pseudonym key
  and its expiry are those of an extract requested through the API;
* ``extract list`` / ``extract show ID``: jobs, states and results;
* ``extract reidentify ID --column C --pseudonym P --reason R``: the DPO's
  re-identification of one pseudonym (audited);
* ``extract worker``: run queued jobs (when the app's worker threads are off).

The operator acts as ``cli:<login>`` (as an analyst for ``run``, as the DPO
for ``reidentify``, ``list`` and ``show``): whoever can run this command holds
the database and Vault credentials already. Errors are one line, as every command.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

# The command-line conventions of every group: one-line errors, one container per command.
from consent.cli import _handle_errors
from consent.cli import _with_container as _with_service
from piivault.clikit import cli_actor


def _operator(role: str) -> Any:
    from anonymize.extract.service import Requester

    # The same actor as every command's (no user name in a container: "cli", not a crash).
    return Requester(cli_actor(), role)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=_iso))


def _iso(value: Any) -> str:
    iso = getattr(value, "isoformat", None)
    if iso is None:
        raise TypeError(type(value).__name__)
    return iso()


@click.group("extract")
def extract_cli() -> None:
    """Anonymized, consent-filtered extracts for risk scoring."""


@extract_cli.command("run")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--engine", type=click.Choice(["local", "spark"]), help="overrides the spec's engine")
@click.option("--spark-master", help="overrides spark.master (local[N], spark://host:port, yarn)")
@_handle_errors
@_with_service
def run(container: Any, spec: Path, out_dir: Path, engine: str | None, spark_master: str | None) -> None:
    """Build an extract of SPEC from the vault's population and copy its files to --out."""
    from anonymize.extract.spec_parser import read_document

    service = container.extracts
    document = _with_engine(read_document(spec.read_bytes()), engine, spark_master)
    with container.uow() as uow:
        job = service.submit(uow, _operator("analyst"), document)
    # On stderr: stdout carries the JSON answer. Off a terminal, click prints the label only.
    with click.progressbar(
        length=100, label=f"extract {job['extract_id']}", file=sys.stderr, item_show_func=lambda phase: phase
    ) as bar:

        def progress(phase: str, fraction: float) -> None:
            target = int(fraction * 100)
            if target > bar.pos or phase != bar.current_item:
                bar.update(max(0, target - bar.pos), current_item=phase)

        view = service.run_one(job["extract_id"], f"cli:{os.getpid()}", progress)
    if view["state"] != "succeeded":
        error = view["error"] or {"code": view["state"], "detail": ""}
        click.echo(f"piivault: extract {view['extract_id']} {view['state']}: {error['detail']}", err=True)
        sys.exit(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = service.extract_dir / view["extract_id"]
    for entry in view["files"]:
        shutil.copyfile(source / entry["name"], out_dir / entry["name"])
    result = view["result"]
    _echo_json(
        {
            "extract_id": view["extract_id"],
            "k": result["k"],
            "l": result["l"],
            "rows_kept": result["rows_kept"],
            "excluded_by_consent": result["excluded_by_consent"],
            "excluded_restricted_or_erased": result["excluded_restricted_or_erased"],
            "expires_at": view["expires_at"],
            "files": [entry["name"] for entry in view["files"]],
        }
    )


def _with_engine(document: Any, engine: str | None, master: str | None) -> Any:
    """The spec document with the command line's engine choice (the spec's own validation still applies)."""
    if not isinstance(document, dict) or (engine is None and master is None):
        return document
    document = dict(document)
    if engine is not None:
        document["engine"] = engine
    if master is not None:
        spark = document.get("spark")
        document["spark"] = (dict(spark) if isinstance(spark, dict) else {}) | {"master": master}
    return document


@extract_cli.command("list")
@click.option("--state", type=click.Choice(["queued", "running", "succeeded", "failed", "expired"]))
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@_handle_errors
@_with_service
def list_extracts(container: Any, state: str | None, limit: int) -> None:
    """The newest extracts (JSON, one per line): id, state, purpose, who, when, k, l."""
    with container.uow() as uow:
        found = container.extracts.search(uow, _operator("dpo"), state=state, limit=limit)
    for view in found:
        result = view["result"] or {}
        _echo_json(
            {
                "extract_id": view["extract_id"],
                "state": view["state"],
                "purpose": view["purpose"],
                "requested_by": view["requested_by"],
                "created_at": view["created_at"],
                "expires_at": view["expires_at"],
                "k": result.get("k"),
                "l": result.get("l"),
                "rows_kept": result.get("rows_kept"),
            }
        )


@extract_cli.command("show")
@click.argument("extract_id")
@_handle_errors
@_with_service
def show(container: Any, extract_id: str) -> None:
    """One extract as JSON: state, progress, result, files and their SHA-256."""
    with container.uow() as uow:
        _echo_json(container.extracts.get(uow, _operator("dpo"), extract_id))


@extract_cli.command("reidentify")
@click.argument("extract_id")
@click.option("--column", required=True, help="the pseudonymized output column")
@click.option("--pseudonym", required=True)
@click.option("--reason", required=True, help="why (kept in the audit log: no personal identifiers)")
@click.option(
    "--as",
    "person",
    default=None,
    metavar="DPO",
    help="the DPO acting (a console username): their grant, approved by another DPO, is needed",
)
@_handle_errors
@_with_service
def reidentify(
    container: Any, extract_id: str, column: str, pseudonym: str, reason: str, person: str | None
) -> None:
    """The subject id behind one pseudonym of one extract (the DPO; four eyes; audited).

    Without an approved grant the attempt files (or names) an extract.reidentify
    approval request and exits 1: another DPO runs ``piivault approvals approve ID``.
    """
    from identity.person import check_person

    if person is not None:
        try:
            person = check_person(person)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--as") from None
    requester = dataclasses.replace(_operator("dpo"), person=person)
    with container.uow() as uow:
        _echo_json(
            container.extracts.reidentify(
                uow, requester, extract_id, column=column, pseudonym=pseudonym, reason=reason
            )
        )


@extract_cli.command("worker")
@click.option("--poll", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True)
@click.option("--once", is_flag=True, help="run what is queued, then exit")
@_handle_errors
@_with_service
def worker(container: Any, poll: float, once: bool) -> None:
    """Run queued extract jobs (several workers may run at once: a job is claimed under a lock)."""
    service = container.extracts
    name = f"worker:{os.getpid()}"
    while True:
        ran = service.run_next(name)
        if ran is not None:
            click.echo(json.dumps({"extract_id": ran}))
            continue
        if once:
            return
        time.sleep(poll)
