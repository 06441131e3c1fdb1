"""Held-out labelled notes for the free-text PII detector (see README.md in this folder).

Written from descriptions of real bank notes (CRM, call centre, complaints, loan officers),
by an author who did not read the recognizers. Do not tune recognizers against this set.

    python -m bench.heldout.generate --n 2000 --seed 20261205 -o heldout.jsonl

or, from code::

    from bench.heldout.generate import items
    rows = items(n_zh=1600, n_en=400, seed=20261205)

Each row: {"text", "lang": "zh"|"en", "entities": [{"start", "end", "type"[, "typo": true]}]}.
Offsets are character (code point) offsets into ``text``, end exclusive.

The vocabulary is in lexicon.py, the value makers in values.py, the clauses and notes in
zh_notes.py and en_notes.py; this module draws the set and writes it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

from bench.heldout.en_notes import en_note
from bench.heldout.values import Gen
from bench.heldout.zh_notes import zh_note

DEFAULT_SEED = 20261205
TYPES = (
    "person",
    "cn_resident_id",
    "cn_mobile",
    "bank_card",
    "email",
    "address",
    "vehicle_plate",
    "date_of_birth",
    "us_ssn",
)


def items(n_zh: int = 1600, n_en: int = 400, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """The held-out set: ``n_zh`` Chinese notes then ``n_en`` English notes, deterministic for ``seed``."""
    g = Gen(random.Random(seed))
    return [zh_note(g) for _ in range(n_zh)] + [en_note(g) for _ in range(n_en)]


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    c: dict[str, int] = {}
    for r in rows:
        for e in r["entities"]:
            key = e["type"] + ("(typo)" if e.get("typo") else "")
            c[key] = c.get(key, 0) + 1
    return dict(sorted(c.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--n", type=int, default=2000, help="total items, 80%% Chinese / 20%% English (default 2000)"
    )
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("-o", "--output", default="-", help="JSONL path, or - for stdout")
    ap.add_argument("--stats", action="store_true", help="print entity counts to stderr")
    a = ap.parse_args(argv)
    n_en = a.n // 5
    rows = items(a.n - n_en, n_en, a.seed)
    out = sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for r in rows:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if a.stats:
        print(json.dumps(counts(rows), ensure_ascii=False), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
