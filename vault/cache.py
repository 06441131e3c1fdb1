"""A bounded, time-limited cache of unwrapped data keys.

Hot paths open many values of the same subjects; asking Vault for every one
would cost a network round trip per value. Entries expire after ``ttl``
seconds (measured on a monotonic clock) so a key removed elsewhere, or a Vault
outage, has a bounded effect, and the least recently used entry goes first
when the cache is full. ``maxsize=0`` disables caching.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from piivault import counting
from vault.datakey import DataKey


def _counted(result: str, lookups: int = 1) -> None:
    """Look-ups in the data-key cache metric."""
    metrics = counting.metrics()
    if metrics is not None:
        metrics.labelled(metrics.DEK_CACHE, result).inc(lookups)


class DekCache:
    def __init__(self, maxsize: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 0 or ttl < 0:
            raise ValueError("maxsize and ttl must not be negative")
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, DataKey]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, owner: str) -> DataKey | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(owner)
            if entry is None:
                self.misses += 1
                _counted("miss")
                return None
            expires, key = entry
            if expires <= now:
                del self._entries[owner]
                self.misses += 1
                _counted("miss")
                return None
            self._entries.move_to_end(owner)
            self.hits += 1
            _counted("hit")
            return key

    def get_all(self, owners: Sequence[str]) -> dict[str, DataKey] | None:
        """The keys of ``owners`` if every one is cached and unexpired, else None. Counted as
        hits only when all are there: a caller that gets None reads the keys and looks them up
        one by one (:meth:`get`), and is counted then."""
        now = self._clock()
        keys = {}
        with self._lock:
            for owner in owners:
                entry = self._entries.get(owner)
                if entry is None or entry[0] <= now:
                    return None
                keys[owner] = entry[1]
            for owner in keys:
                self._entries.move_to_end(owner)
            self.hits += len(keys)
        _counted("hit", len(keys))
        return keys

    def put(self, key: DataKey) -> None:
        if self.maxsize == 0 or self.ttl == 0:
            return
        with self._lock:
            self._entries[key.owner] = (self._clock() + self.ttl, key)
            self._entries.move_to_end(key.owner)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def evict(self, owners: Iterable[str]) -> None:
        with self._lock:
            for owner in owners:
                self._entries.pop(owner, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
