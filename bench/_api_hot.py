"""The API bench's hot set: single detokenize and tokenize of customers whose data keys every
worker holds.

The cold phase (``single detokenize closed loop``) draws ~5,000 customers over all the
workers, so nearly every request misses the worker's data-key cache and unwraps its key
in Transit. ``measure_hot`` draws from ``--hot-subjects`` customers instead, warms every
worker's cache with them first, and runs the same closed loop: the case where a cache
hit needs no Vault call at all. Then single tokenize, a new mobile for each hot customer,
in the same closed loop: the cold tokenize phase also unwraps nearly every customer's key.

The cache (``vault/cache.py``) is per worker process, LRU, ``PIIVAULT_DEK_CACHE_SIZE``
entries (50,000) for ``PIIVAULT_DEK_CACHE_TTL`` seconds (300) counted from the unwrap: a
hit does not renew it. So a hot set stays cached if it fits beside whatever else the
workers cache and every worker unwrapped each of its keys less than 300 s before it is
read. ``HOT_SUBJECTS`` (1,000) is chosen from both: 2% of the cache, so the whole run's
other keys (8,000 onboarded customers at the defaults, the system keys) cannot evict
it; one request at the API's largest batch (``MAX_BATCH``), so warming takes one request
per connection; and warming plus ``--seconds`` of load take well under the TTL. A key
that does expire mid-phase (the worker that created it cached it at onboarding, and a
hit leaves that expiry) costs one unwrap in that worker and is cached again.
"""

from __future__ import annotations

import argparse
import json
import time

import sqlalchemy as sa
from _api_customers import CUSTOMER_VALUES, new_values_for, single_bodies
from _api_load import Phase, Processes, run_phase

from piivault.settings_table import BY_NAME
from tokenization.model import MAX_BATCH

HOT_PHASE = "single detokenize, hot keys"
HOT_TOKENIZE = "single tokenize, hot keys"
HOT_SUBJECTS = 1_000
DRAIN_SECONDS = 120.0


def cache_size(env: dict[str, str]) -> int:
    """The data-key cache's size in workers run with ``env``: its setting, or the default."""
    raw = env.get("PIIVAULT_DEK_CACHE_SIZE")
    return BY_NAME["DEK_CACHE_SIZE"].convert(raw) if raw else BY_NAME["DEK_CACHE_SIZE"].default


def hot_tokens(tokens: list[str], subjects: int) -> list[str]:
    """One token each of the first ``subjects`` customers, the field type turning with the
    customer (so the hot set mixes field types as the cold one does). ``tokens`` are batch
    tokenize's, in each batch's order: a customer's five values are consecutive and a batch
    (1,000 values) holds whole customers."""
    return [tokens[CUSTOMER_VALUES * c + c % CUSTOMER_VALUES] for c in range(subjects)]


def measure_hot(
    tokens: list[str], subject_ids: list[str], args: argparse.Namespace, dek_cache: int, common: dict
) -> tuple[Phase, Phase, Phase]:
    """Warm every worker's cache with the hot set, let the audit worker catch up, then run
    single detokenize, then single tokenize, in a closed loop over it: (the warm pass, the
    measured phases). ``subject_ids`` are the customers of ``tokens``, one per value."""
    subjects = args.hot_subjects
    if subjects > dek_cache:
        raise RuntimeError(f"--hot-subjects {subjects}: the workers' data-key cache holds {dek_cache}")
    hot = hot_tokens(tokens, subjects)
    # Every worker must have seen every hot key. A keep-alive connection stays with the
    # worker that accepted it, and which worker that is cannot be chosen; so each of the
    # --clients connections (as many as the measured phase opens, spread over the workers
    # the same way) sends the whole set, in batches of up to MAX_BATCH tokens: a worker that
    # accepted any of them has unwrapped every hot key (one batched Transit call per batch).
    # With 50 connections over 3 workers a worker left without one is vanishingly unlikely;
    # the phase's OpenBao CPU per request, next to the cold phase's, shows that none was.
    chunks = [hot[i : i + MAX_BATCH] for i in range(0, len(hot), MAX_BATCH)]
    warm_bodies = [
        json.dumps({"purpose": "account_service", "tokens": chunk}).encode()
        for chunk in chunks
        for _ in range(args.clients)  # client i sends bodies[i::clients]: every chunk once
    ]
    warm, _ = run_phase(
        "warm hot keys", path="/v1/detokenize", bodies=warm_bodies, clients=args.clients, **common
    )
    if warm.errors:
        raise RuntimeError(f"warming the hot keys: {warm.errors} failed requests: {warm.first_error}")
    # The warm pass audits subjects x clients reads; the audit worker sequencing them during
    # the measured phase would be charged to it.
    _drain_audit_queue(common["procs"])
    bodies = [json.dumps({"purpose": "account_service", "tokens": [t]}).encode() for t in hot]
    phase, _ = run_phase(
        HOT_PHASE, path="/v1/detokenize", bodies=bodies, clients=args.clients, seconds=args.seconds, **common
    )
    _drain_audit_queue(common["procs"])
    customers = [subject_ids[CUSTOMER_VALUES * c] for c in range(subjects)]
    new_values = single_bodies(new_values_for(customers, args.seconds), [])["tokenize"]
    tokenized, _ = run_phase(
        HOT_TOKENIZE,
        path="/v1/tokenize",
        bodies=new_values,
        clients=args.clients,
        seconds=args.seconds,
        **common,
    )
    return warm, phase, tokenized


def _drain_audit_queue(procs: Processes) -> None:
    """Wait (up to ``DRAIN_SECONDS``) until the audit queue is empty: the audit worker has
    sequenced every event so far. Inline sequencing leaves it empty already."""
    engine = sa.create_engine(procs.database_url)
    try:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if not conn.scalar(sa.text("SELECT count(*) FROM audit_queue")):
                    return
            time.sleep(0.2)
        print(f"  (the audit queue was not empty after {DRAIN_SECONDS:.0f} s)", flush=True)
    finally:
        engine.dispose()
