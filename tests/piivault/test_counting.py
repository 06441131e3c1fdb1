"""Counts below the API reach the metrics a server exports (:mod:`piivault.counting`)."""

from __future__ import annotations

from piivault import counting, metrics
from vault.cache import DekCache


def _misses() -> float:
    return metrics.DEK_CACHE.labels(result="miss")._value.get()


def test_a_process_that_loaded_the_metrics_counts_cache_look_ups():
    """A server has loaded :mod:`piivault.metrics` (this test has too): a look-up is counted."""
    assert counting.metrics() is metrics
    before = _misses()
    DekCache(maxsize=4, ttl=60).get("subject:nobody")
    assert _misses() == before + 1
