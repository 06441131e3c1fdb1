"""The API bench's report: the figures of every column side by side, each goal met or not met.

``summary`` prints one row per figure (batch and single-value rates, latencies closed
and paced, server CPU per request, single detokenize of a hot set when ``--hot-subjects``
ran one, peak memory, the bare Flask floor and, on PostgreSQL, the floor with the
guarantees), a column per
tree in the order measured, and for each goal of issue 22 (and the batch goals before
it) whether the last column, this tree, met it; with the floor, the CPU goals proposed
against it (``FLOOR_GOALS``); then the naive Transit rates.
"""

from __future__ import annotations

import os
import resource

from _api_hot import HOT_PHASE, HOT_TOKENIZE
from _api_load import Phase
from _api_measure import BATCH_DETOKENIZE, BATCH_PHASE, COLD_FLOOR, FLOOR_PHASES, TreeResult

Row = tuple[str, str, str, "bool | None"]  # title, value, goal, met (None: no goal)


def _tail_ok(phase: Phase) -> bool:
    return phase.pct(0.99) <= 5 * phase.pct(0.5)


def _metrics(r: TreeResult, naive_encrypt: float, naive_decrypt: float) -> list[Row]:
    """(title, value, goal, met) rows for one tree; the goals are issue 22's and the earlier ones,
    and the CPU goals proposed against the floor with the guarantees (``FLOOR_GOALS``)."""
    batch = r.phases[BATCH_PHASE]
    batch_rate = batch.values / batch.seconds
    rows: list[Row] = [
        ("batch tokenize, values/s", f"{batch_rate:,.0f}", ">= 20,000", batch_rate >= 20_000),
        (
            "  vs naive Transit encrypt",
            f"{batch_rate / naive_encrypt:.1f}x",
            ">= 20x",
            batch_rate / naive_encrypt >= 20,
        ),
        ("  server CPU per 1,000 values, ms", f"{_server_cpu(batch) / batch.requests * 1000:.0f}", "", None),
    ]
    cpu_goal = {"tokenize": 3.0, "detokenize": 1.5}
    for op in ("tokenize", "detokenize"):
        closed = r.phases[f"single {op} closed loop"]
        half, quarter = r.phases[f"single {op} paced at 1/2"], r.phases[f"single {op} paced at 1/4"]
        cpu = _server_cpu(closed) / closed.requests * 1000
        rows += [
            (f"single {op}, closed loop: req/s", f"{closed.rate:,.0f}", "", None),
            ("  p50 / p99 ms, closed loop", _p(closed), "", None),
            ("  p50 / p99 ms, paced at 1/2", _p(half), "p99 <= 5x p50", _tail_ok(half)),
            ("  p50 / p99 ms, paced at 1/4", _p(quarter), "p99 <= 5x p50", _tail_ok(quarter)),
            ("  server CPU per request, ms", f"{cpu:.2f}", f"<= {cpu_goal[op]}", cpu <= cpu_goal[op]),
            *(_vs_cold_floor(r, closed) if op == "tokenize" else []),
            ("  load generator's share of the CPU used", f"{_client_share(closed):.0%}", "", None),
        ]
    detok = r.phases["single detokenize closed loop"]
    batch_detok = r.phases[BATCH_DETOKENIZE]
    detok_values = batch_detok.values / batch_detok.seconds
    rows += [
        (
            "single detokenize req/s vs naive decrypts/s",
            f"{detok.rate / naive_decrypt:.1f}x",
            ">= 1.0x",
            detok.rate >= naive_decrypt,
        ),
        *_hot_rows(r, naive_decrypt),
        ("batch detokenize, values/s", f"{detok_values:,.0f}", ">= 50,000", detok_values >= 50_000),
        (
            "  server CPU per 1,000 values, ms",
            f"{_server_cpu(batch_detok) / batch_detok.requests * 1000:.0f}",
            "",
            None,
        ),
        ("peak RSS, largest worker / all, MB", f"{r.peak_worker_mb:.0f} / {r.total_mb:.0f}", "", None),
    ]
    bare = r.bare
    floor = bare["bare Flask closed loop"]
    rows += [
        ("bare Flask route, same server: req/s", f"{floor.rate:,.0f}", "", None),
        ("  server CPU per request, ms", f"{_server_cpu(floor) / floor.requests * 1000:.2f}", "", None),
        ("  p50 / p99 ms, paced at 1/4", _p(bare["bare Flask paced at 1/4"]), "", None),
    ]
    for op, name in FLOOR_PHASES.items():  # PostgreSQL only
        least = bare.get(name)
        if least is None:
            continue
        rows += [
            (f"floor with the guarantees, {op}: req/s", f"{least.rate:,.0f}", "", None),
            ("  server CPU per request, ms", f"{_cpu_ms(least):.2f}", "", None),
        ]
        if op == "detokenize":
            rows.append(("  req/s vs naive decrypts/s", f"{least.rate / naive_decrypt:.1f}x", "", None))
    cold = bare.get(COLD_FLOOR)
    if cold is not None:
        rows += [
            ("floor with the guarantees, tokenize, cold key: req/s", f"{cold.rate:,.0f}", "", None),
            ("  server CPU per request, ms", f"{_cpu_ms(cold):.2f}", "", None),
        ]
    return rows


def _hot_rows(r: TreeResult, naive_decrypt: float) -> list[Row]:
    """The hot set's rows (``--hot-subjects``), if it ran: every key in every worker's cache; each
    phase's server CPU beside the floor with the guarantees' (PostgreSQL), which is always hot."""
    hot = r.phases.get(HOT_PHASE)
    if hot is None:
        return []
    cold = r.phases["single detokenize closed loop"]
    bao = f"{_per_request(hot, 'openbao'):.2f} / {_per_request(cold, 'openbao'):.2f}"
    rows: list[Row] = [
        ("single detokenize, hot keys: req/s", f"{hot.rate:,.0f}", "", None),
        ("  p50 / p99 ms, closed loop", _p(hot), "", None),
        ("  server CPU per request, ms", f"{_cpu_ms(hot):.2f}", "", None),
        *_vs_floor(r, hot, "detokenize"),
        ("  OpenBao CPU per request, ms, hot / cold", bao, "", None),
        (
            "  hot keys req/s vs naive decrypts/s",
            f"{hot.rate / naive_decrypt:.1f}x",
            ">= 1.0x",
            hot.rate >= naive_decrypt,
        ),
    ]
    tokenized = r.phases.get(HOT_TOKENIZE)
    if tokenized is not None:
        rows += [
            ("single tokenize, hot keys: req/s", f"{tokenized.rate:,.0f}", "", None),
            ("  server CPU per request, ms", f"{_cpu_ms(tokenized):.2f}", "", None),
            *_vs_floor(r, tokenized, "tokenize"),
        ]
    return rows


# The per-request CPU goals proposed in place of issue 22's absolute ones, which the floor with
# the guarantees showed wrong for this stack (its own detokenize costs 1.3-1.5 ms): a multiple of
# the floor measured in the same run, so a fast and a slow hour read alike.
FLOOR_GOALS = {"detokenize": 2.0, "tokenize": 2.5}


def _vs_floor(r: TreeResult, phase: Phase, op: str) -> list[Row]:
    least = r.bare.get(FLOOR_PHASES[op])
    if least is None:
        return []
    ratio, goal = _cpu_ms(phase) / _cpu_ms(least), FLOOR_GOALS[op]
    return [
        (
            "  server CPU vs the floor with the guarantees",
            f"{ratio:.1f}x",
            f"<= {goal}x (proposed)",
            ratio <= goal,
        )
    ]


def _vs_cold_floor(r: TreeResult, closed: Phase) -> list[Row]:
    """The closed-loop tokenize, whose keys are nearly all cold (a Transit unwrap each), beside the
    floor that unwraps its key too; the goal is the hot tokenize's against its floor."""
    least = r.bare.get(COLD_FLOOR)
    if least is None:
        return []
    ratio, goal = _cpu_ms(closed) / _cpu_ms(least), FLOOR_GOALS["tokenize"]
    return [
        (
            "  server CPU vs the floor with a cold key",
            f"{ratio:.1f}x",
            f"<= {goal}x (proposed)",
            ratio <= goal,
        )
    ]


def _cpu_ms(phase: Phase) -> float:
    """Server CPU per request, ms."""
    return _server_cpu(phase) / max(phase.requests, 1) * 1000


def summary(
    results: list[TreeResult],
    naive_encrypt: float,
    naive_decrypt: float,
    callers: int,
) -> None:
    """The figures side by side, each goal with met or not met for the last tree (this one)."""
    labels = " -> ".join(r.label for r in results)
    print(f"\nsummary ({labels}); goal: met / not met for {results[-1].label}")
    table = [_metrics(r, naive_encrypt, naive_decrypt) for r in results]
    for i, (title, _, goal, _met) in enumerate(table[0]):
        cells = "  ->  ".join(f"{t[i][1]:>13s}" for t in table)
        met = table[-1][i][3]
        verdict = "" if met is None else f"goal {goal}: {'met' if met else 'NOT MET'}"
        print(f"  {title:44s} {cells}   {verdict}")
    print(f"  naive: one Transit encrypt per value, {callers} callers: {naive_encrypt:,.0f} values/s")
    print(f"  naive: one Transit decrypt per value, {callers} callers: {naive_decrypt:,.0f} values/s")
    print(f"  bench process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"  load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _server_cpu(phase: Phase) -> float:
    return sum(v for k, v in phase.cpu.items() if k != "client")


def _per_request(phase: Phase, part: str) -> float:
    """ms of ``part``'s CPU per request."""
    return phase.cpu.get(part, 0.0) / max(phase.requests, 1) * 1000


def _client_share(phase: Phase) -> float:
    total = sum(phase.cpu.values())
    return phase.cpu["client"] / total if total else 0.0


def _p(phase: Phase) -> str:
    return f"{phase.pct(0.5):.1f} / {phase.pct(0.99):.1f}"
