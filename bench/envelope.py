"""Envelope encryption throughput, measured against its baselines in one run.

Prints, on this machine, with a real OpenBao dev server on loopback:

* vault/ end to end: seal N values for S subjects, including creating each
  subject's DEK and wrapping them all through Transit (batched);
* the naive design: one Transit ``encrypt`` call per value (a small sample);
* raw AES-256-GCM on the same values with one prepared key (the floor);
* vault/ with DEKs already cached (the hot path), and opening with a cold cache
  (batched unwrap);

and the ratios the design promises: >= 100x the per-value Transit rate, and
within 3x of raw AES-GCM once DEKs are cached.

    python bench/envelope.py [--values 100000] [--subjects 10000] [--naive 2000]
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hvac  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from piivault import migrate  # noqa: E402
from piivault.container import build_container  # noqa: E402
from piivault.devbao import start_ephemeral  # noqa: E402
from piivault.settings import Settings  # noqa: E402
from vault import Binding, subject_owner  # noqa: E402


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} values/s  ({seconds:8.3f} s for {n:,})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--values", type=int, default=100_000)
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--naive", type=int, default=2_000)
    args = ap.parse_args()
    per_subject = max(1, args.values // args.subjects)

    work = Path(tempfile.mkdtemp(prefix="pv-bench-"))
    bao = start_ephemeral(work / "bao")
    try:
        settings = Settings.from_env(
            {
                "PIIVAULT_ENV": "test",
                "PIIVAULT_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
                "PIIVAULT_VAULT_ADDR": bao.addr,
                "PIIVAULT_VAULT_TOKEN": bao.token,
                "PIIVAULT_ERASURE_LEDGER": str(work / "ledger.jsonl"),
                "PIIVAULT_DEK_CACHE_SIZE": str(args.subjects * 2),
            }
        )
        container = build_container(settings)
        migrate.upgrade(container.engine)
        container.provider.ensure_key()
        keyring = container.keyring

        subjects = [secrets.token_hex(8) for _ in range(args.subjects)]
        values = [f"1{secrets.randbelow(10**10):010d}".encode() for _ in range(args.values)]
        work_items = [
            (subjects[i // per_subject % len(subjects)], f"rec-{i}", v) for i, v in enumerate(values)
        ]

        print(
            f"piivault envelope bench: {args.values:,} values, {args.subjects:,} subjects, "
            f"Transit batch {settings.transit_batch_size}, OpenBao dev server on loopback"
        )
        print()

        # 1. vault/ end to end, DEK creation and wrapping included.
        keyring.cache.clear()
        t0 = time.perf_counter()
        with container.session_factory() as session:
            keyring.create_subject_keys(session, subjects)
            keys = keyring.data_keys(session, [subject_owner(s) for s in subjects])
            sealed = [keys[subject_owner(s)].seal(v, Binding(s, "cn_mobile", r)) for s, r, v in work_items]
            session.commit()
        t_vault = time.perf_counter() - t0

        # 2. naive: one Transit encrypt per value.
        client = hvac.Client(url=bao.addr, token=bao.token)
        client.secrets.transit.create_key("naive", mount_point="transit")
        sample = values[: args.naive]
        t0 = time.perf_counter()
        for v in sample:
            client.secrets.transit.encrypt_data("naive", plaintext=base64.b64encode(v).decode())
        t_naive = time.perf_counter() - t0

        # 3. raw AES-GCM, one prepared key, random nonces.
        gcm = AESGCM(os.urandom(32))
        t0 = time.perf_counter()
        for _, _, v in work_items:
            gcm.encrypt(os.urandom(12), v, b"")
        t_raw = time.perf_counter() - t0

        # 4. hot path: DEKs cached, lookups through the keyring per value batch.
        t0 = time.perf_counter()
        with container.session_factory() as session:
            keys = keyring.data_keys(session, [subject_owner(s) for s in subjects])
            for s, r, v in work_items:
                keys[subject_owner(s)].seal(v, Binding(s, "cn_mobile", r))
        t_hot = time.perf_counter() - t0

        # 5. open everything with a cold cache: one batched unwrap, then local AES-GCM.
        keyring.cache.clear()
        t0 = time.perf_counter()
        with container.session_factory() as session:
            keys = keyring.data_keys(session, [subject_owner(s) for s in subjects])
            for (s, r, v), c in zip(work_items, sealed, strict=True):
                assert keys[subject_owner(s)].open(c, Binding(s, "cn_mobile", r)) == v
        t_open = time.perf_counter() - t0

        # 6. latency of a single cold DEK unwrap (what a cache miss costs).
        lat = []
        with container.session_factory() as session:
            for s in subjects[:200]:
                keyring.cache.evict([subject_owner(s)])
                t1 = time.perf_counter()
                keyring.subject_key(session, s)
                lat.append((time.perf_counter() - t1) * 1000)
        lat.sort()

        n = args.values
        print(f"vault/ seal, DEKs created+wrapped : {rate(n, t_vault)}")
        print(f"naive Transit encrypt per value   : {rate(len(sample), t_naive)}")
        print(f"raw AES-256-GCM (floor)           : {rate(n, t_raw)}")
        print(f"vault/ seal, DEKs cached          : {rate(n, t_hot)}")
        print(f"vault/ open, cold cache (batched) : {rate(n, t_open)}")
        print(
            f"single DEK cache miss (unwrap)    : p50 {statistics.median(lat):.2f} ms, "
            f"p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms"
        )
        print()
        r_naive = (n / t_vault) / (len(sample) / t_naive)
        r_raw = t_hot / t_raw
        print(f"vault/ end-to-end vs naive Transit : {r_naive:8.1f}x faster   (goal >= 100x)")
        print(f"cached vault/ vs raw AES-GCM       : {r_raw:8.2f}x the time  (goal <= 3x)")
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS                           : {peak_mib:,.0f} MiB")
        container.close()
    finally:
        bao.stop()


if __name__ == "__main__":
    main()
