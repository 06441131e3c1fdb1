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


def test_a_child_looked_up_once_is_the_metrics_own():
    """:func:`metrics.labelled` keeps the child ``labels`` returns: what it counts is exported."""
    child = metrics.labelled(metrics.TOKEN_ITEMS, "tokenize", "ok", "labelled_test")
    assert child is metrics.TOKEN_ITEMS.labels(operation="tokenize", outcome="ok", reason="labelled_test")
    assert metrics.labelled(metrics.TOKEN_ITEMS, "tokenize", "ok", "labelled_test") is child
    before = child._value.get()
    child.inc(2)
    series = 'piivault_token_items_total{operation="tokenize",outcome="ok",reason="labelled_test"}'
    assert f"{series} {before + 2}" in metrics.render().decode()
