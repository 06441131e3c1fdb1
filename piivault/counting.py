"""Counts made by code that command-line tools run too: made only where someone can read them.

The API's metrics (:mod:`piivault.metrics`) are read by scraping ``/metrics``, which
only a server answers; the app loads the module when it is built. Below the API, the
data-key cache, the erasure ledger, the Transit client and the answer budget count
events that a one-shot command (``piivault audit verify``, ``keys replay-erasures``)
also causes. There the counts would go nowhere, and loading prometheus_client to make
them costs a command about 20 ms of its start (issue 13). So such code asks
:func:`metrics` first and counts only when it gets the module.

A process that shares ``PROMETHEUS_MULTIPROC_DIR`` with a server writes its values
where a scrape adds them up, so it counts too, as it always did.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

_MODULE = "piivault.metrics"


def metrics() -> ModuleType | None:
    """:mod:`piivault.metrics` if this process's counts can be read, else None."""
    loaded = sys.modules.get(_MODULE)
    if loaded is not None:
        return loaded
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from piivault import metrics as module

        return module
    return None
