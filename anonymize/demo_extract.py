"""Run an extract over the demo side table, with the population decided by the API's consent service.

``piivault anonymize extract run spec.yaml --table customers.parquet --out DIR``:
the rows are the seeded risk attributes (no identifier is decrypted: the
table's ``subject_id`` is the only identifier column available, and a spec may
pseudonymize or drop it); the population is decided per subject through the
public API with a ``dpo`` or ``service`` key - erased or restricted subjects are
excluded, and when the purpose requires consent so is every subject whose
consent for it does not count now.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from anonymize.extract import ExtractResult, Population, run_extract
from anonymize.extract.spec import ExtractSpec, load_spec
from api.client import PiivaultClient, PiivaultError


def api_population(
    client: PiivaultClient, subject_ids: list[str], tick: Callable[[], None] | None = None
) -> Callable[[str], Population]:
    """A population provider asking the API about each subject (two calls each, one if no consent needed)."""

    def population(purpose: str) -> Population:
        required = client._request("GET", f"/v1/purposes/{purpose}", retry_connection_errors=True)[
            "consent_required"
        ]
        eligible, excluded = [], {"not_found": 0, "erased": 0, "restricted": 0, "no_consent": 0}
        for sid in subject_ids:
            reason = _exclusion(client, sid, purpose, required)
            if reason is None:
                eligible.append(sid)
            else:
                excluded[reason] += 1
            if tick is not None:
                tick()
        return Population.of(eligible, **{k: v for k, v in excluded.items() if v})

    return population


def _exclusion(client: PiivaultClient, sid: str, purpose: str, consent_required: bool) -> str | None:
    try:
        state = client.subject(sid)["state"]
    except PiivaultError as e:
        if e.status == 404:
            return "not_found"
        raise
    if state != "active":
        return state
    if not consent_required:
        return None
    answer = client._request("GET", f"/v1/subjects/{sid}/consents", retry_connection_errors=True)
    counts = any(c["purpose"] == purpose and c["counts"] for c in answer.get("consents") or [])
    return None if counts else "no_consent"


def run_demo_extract(
    spec_path: Path,
    table_path: Path,
    out_dir: Path,
    client: PiivaultClient,
    progress: Callable[[str, float], None] | None = None,
    tick: Callable[[], None] | None = None,
) -> ExtractResult:
    """Raises what :func:`load_spec`, :func:`run_extract` and the API client raise."""
    spec: ExtractSpec = load_spec(spec_path)
    table = pd.read_parquet(table_path) if table_path.suffix == ".parquet" else pd.read_csv(table_path)
    ids = [str(s) for s in table[spec.subject_column]]

    def rows(eligible: frozenset[str]) -> list[Any]:
        return [table[table[spec.subject_column].isin(eligible)].reset_index(drop=True)]

    return run_extract(spec, rows, api_population(client, ids, tick), out_dir, progress)
