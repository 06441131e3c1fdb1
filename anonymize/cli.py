"""``piivault anonymize``: free-text anonymization at the terminal, and the demo data seeder.

``anonymize text`` runs the engine in this process (offline, no database, no
vault) and prints ``{text, entities}`` as JSON. ``tokenize`` needs a caller the
vault can audit: use ``POST /v1/anonymize/text`` with a service key for it.
``anonymize scan`` reports the likely field type of each column of a CSV or Parquet file or a
database table (:mod:`anonymize.scan`), for a data inventory. Extracts have their own
group, ``piivault extract`` (:mod:`anonymize.extract.cli`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from piivault.clikit import handle_errors as _cli_errors
from piivault.clikit import open_container

LOCAL_OPERATORS = ("redact", "mask", "replace")


@click.group("anonymize")
def anonymize_cli() -> None:
    """Anonymize free text; seed demo data."""


@anonymize_cli.command("text")
@click.argument("text", required=False)
@click.option("--language", type=click.Choice(["zh", "en", "auto"]), default="auto", show_default=True)
@click.option("--operator", type=click.Choice(LOCAL_OPERATORS), default="replace", show_default=True)
@_cli_errors
def text_command(text: str | None, language: str, operator: str) -> None:
    """Anonymize TEXT (or standard input) and print {text, entities} as JSON.

    Each call loads the detectors first (jieba, spaCy, Presidio): about 3 s of CPU,
    2-3 s on an idle 2-CPU machine. For many texts, POST /v1/anonymize/text on a running
    server, which loads them once.
    """
    from anonymize.text import anonymize

    if text is None:
        text = sys.stdin.read()
    result, entities = anonymize(text, language, operator)
    click.echo(json.dumps({"text": result, "entities": [e.to_dict() for e in entities]}, ensure_ascii=False))


@anonymize_cli.command("scan")
@click.argument("source")
@click.option("--table", help="the table to scan when SOURCE is a SQLAlchemy database URL")
@click.option(
    "--sample", type=click.IntRange(1, 100_000), default=200, show_default=True, help="rows sampled"
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["json", "text", "html"]),
    default="json",
    show_default=True,
    help="html: a page to keep as the table's inventory",
)
@click.option(
    "--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="of the html page"
)
@_cli_errors
def scan_command(source: str, table: str | None, sample: int, output: str, language: str) -> None:
    """Report which field type each column of a CSV file or a database table likely holds.

    SOURCE is a CSV file with a header row, a .parquet file, or a database URL (with --table). Only
    column names and counts are printed, never a value.
    """
    from anonymize.scan import ScanError, render_html, render_text, scan_csv, scan_parquet, scan_table

    try:
        if "://" in source:
            if not table:
                raise click.UsageError("a database URL needs --table")
            reports = scan_table(source, table, sample)
        else:
            if table:
                raise click.UsageError("--table is for a database URL, not a file")
            scan_file = scan_parquet if source.lower().endswith((".parquet", ".pq")) else scan_csv
            reports = scan_file(source, sample)
    except ScanError as e:
        raise click.ClickException(str(e)) from None
    if output == "text":
        click.echo(render_text(reports))
    elif output == "html":
        # The file's name, or the table and its database without user or password.
        label = f"{table} @ {_database_label(source)}" if table else Path(source).name
        click.echo(render_html(reports, label, sample, language))
    else:
        click.echo(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))


def _database_label(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # an unparsable URL was refused by the scan already; say nothing of it
        return "?"
    return f"{parsed.get_backend_name()}://{parsed.host or ''}/{parsed.database or ''}"


@anonymize_cli.group("demo")
def demo_cli() -> None:
    """Synthetic customers for tests, benches and the README tour."""


@demo_cli.command("seed")
@click.option("--customers", type=click.IntRange(1, 1_000_000), required=True)
@click.option("--notes", type=click.IntRange(0, 1_000_000), default=2000, show_default=True)
@click.option(
    "--url",
    "base_url",
    envvar="PIIVAULT_URL",
    help="API base URL (env PIIVAULT_URL; in a `piivault dev` directory: that server)",
)
@click.option(
    "--key",
    envvar="PIIVAULT_API_KEY",
    help="a service API key (env PIIVAULT_API_KEY; in a `piivault dev` directory: a key made "
    "for this run in its database and revoked after it)",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="demo", show_default=True)
@click.option("--seed", "rng_seed", type=int, default=None, help="for a reproducible data set")
@_cli_errors
def seed_command(
    customers: int, notes: int, base_url: str | None, key: str | None, out_dir: str, rng_seed: int | None
) -> None:
    """Create synthetic customers through the public API; attributes and notes go to --out."""
    from anonymize.demo import seed
    from piivault import devenv
    from piivault_client import PiivaultClient, PiivaultError

    dev = devenv.in_use() is not None
    if base_url is None:
        raise click.UsageError("give --url (the API's base URL), or run it where `piivault dev` runs")
    if key is None and not dev:
        raise click.UsageError("give --key (a service API key), or run it where `piivault dev` runs")
    with contextlib.ExitStack() as stack:
        if key is None:
            from anonymize.demo_key import demo_service_key  # in development mode only

            container = stack.enter_context(contextlib.closing(open_container()))
            key = stack.enter_context(demo_service_key(container))
        try:
            summary = seed(PiivaultClient(base_url, key), customers, notes, Path(out_dir), seed=rng_seed)
        except PiivaultError as e:  # the problem's title and detail: never a request value
            raise click.ClickException(f"the API refused a request: {e}") from None
    click.echo(json.dumps(summary))
