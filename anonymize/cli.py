"""``piivault anonymize``: free-text anonymization at the terminal, and the demo data seeder.

``anonymize text`` runs the engine in this process (offline, no database, no
vault) and prints ``{text, entities}`` as JSON. ``tokenize`` needs a caller the
vault can audit: use ``POST /v1/anonymize/text`` with a service key for it.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

LOCAL_OPERATORS = ("redact", "mask", "replace")


def _cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    # piivault.cli imports this module to add the group; import it lazily.
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from piivault.cli import handle_errors

        return handle_errors(fn)(*args, **kwargs)

    return wrapper


@click.group("anonymize")
def anonymize_cli() -> None:
    """Anonymize free text; seed demo data."""


@anonymize_cli.command("text")
@click.argument("text", required=False)
@click.option("--language", type=click.Choice(["zh", "en", "auto"]), default="auto", show_default=True)
@click.option("--operator", type=click.Choice(LOCAL_OPERATORS), default="replace", show_default=True)
@_cli_errors
def text_command(text: str | None, language: str, operator: str) -> None:
    """Anonymize TEXT (or standard input) and print {text, entities} as JSON."""
    from anonymize.text import anonymize

    if text is None:
        text = sys.stdin.read()
    result, entities = anonymize(text, language, operator)
    click.echo(json.dumps({"text": result, "entities": [e.to_dict() for e in entities]}, ensure_ascii=False))


@anonymize_cli.group("demo")
def demo_cli() -> None:
    """Synthetic customers for tests, benches and the README tour."""


@demo_cli.command("seed")
@click.option("--customers", type=click.IntRange(1, 1_000_000), required=True)
@click.option("--notes", type=click.IntRange(0, 1_000_000), default=2000, show_default=True)
@click.option("--url", "base_url", envvar="PIIVAULT_URL", required=True, help="API base URL")
@click.option(
    "--key", envvar="PIIVAULT_API_KEY", required=True, help="a service API key (env PIIVAULT_API_KEY)"
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="demo", show_default=True)
@click.option("--seed", "rng_seed", type=int, default=None, help="for a reproducible data set")
@_cli_errors
def seed_command(
    customers: int, notes: int, base_url: str, key: str, out_dir: str, rng_seed: int | None
) -> None:
    """Create synthetic customers through the public API; attributes and notes go to --out."""
    from anonymize.demo import seed
    from api.client import PiivaultClient, PiivaultError

    try:
        summary = seed(PiivaultClient(base_url, key), customers, notes, Path(out_dir), seed=rng_seed)
    except PiivaultError as e:  # the problem's title and detail: never a request value
        raise click.ClickException(f"the API refused a request: {e}") from None
    click.echo(json.dumps(summary))


@anonymize_cli.group("extract")
def extract_cli() -> None:
    """Anonymized, consent-filtered extracts (over the demo side table)."""


@extract_cli.command("run")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--table", type=click.Path(exists=True, dir_okay=False), required=True, help="side table")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
@click.option("--url", "base_url", envvar="PIIVAULT_URL", required=True, help="API base URL")
@click.option("--key", envvar="PIIVAULT_API_KEY", required=True, help="a dpo or service key")
@_cli_errors
def extract_run(spec: str, table: str, out_dir: str, base_url: str, key: str) -> None:
    """Write an anonymized extract of TABLE for SPEC's purpose to --out, with a progress bar."""
    from tqdm import tqdm

    from anonymize.demo_extract import run_demo_extract
    from api.client import PiivaultClient, PiivaultError

    with (
        tqdm(desc="consent checks", unit="subject", leave=False) as checks,
        tqdm(total=100, desc="extract", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}") as bar,
    ):

        def progress(stage: str, done: float) -> None:
            bar.set_postfix_str(stage, refresh=False)
            bar.update(max(0.0, done * 100 - bar.n))

        try:
            result = run_demo_extract(
                Path(spec), Path(table), Path(out_dir), PiivaultClient(base_url, key), progress, checks.update
            )
        except PiivaultError as e:  # the problem's title and detail: never a request value
            raise click.ClickException(f"the API refused a request: {e}") from None
    measures = result.report["measures"]
    click.echo(
        json.dumps(
            {
                "extract_id": result.extract_id,
                "k": measures["k"],
                "l": measures.get("l"),
                "files": sorted(path.name for path in result.files.values()),
            }
        )
    )
