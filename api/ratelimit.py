"""An in-memory limiter of failed authentication attempts per client id and per address.

Per process: with several gunicorn workers each counts on its own, so the
effective limit is up to ``workers`` times higher. It sheds noisy scanners and
brute-force traffic; the keys' 256-bit secrets are what make guessing futile.
It is consulted only for keys that fail (:mod:`api.auth` checks the key
first), so a valid key is never refused because of other callers' failures.
In memory rather than in the database, unlike the not-found budget
(:mod:`throttle`): a flood of garbage keys must not cost a write each.
Behind a reverse proxy set ``PIIVAULT_TRUSTED_PROXIES`` so the address is the
client's, not the proxy's (else one bad client would lock out everyone).
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable


class FailureLimiter:
    """At most ``limit`` failures per key within a sliding ``window`` (seconds).

    ``limit`` 0 disables it. Memory is bounded: beyond ``max_tracked`` keys the
    least recently failing one is forgotten.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = 10_000,
    ) -> None:
        if limit < 0 or window <= 0:
            raise ValueError("limit must be >= 0 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_tracked = max_tracked
        self._failures: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> collections.deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None if it is not blocked."""
        if not self.limit:
            return None
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if times is None or len(times) < self.limit:
                return None
            return max(1, math.ceil(times[-self.limit] + self.window - now))

    def failed(self, key: str) -> None:
        """Count one failed attempt by ``key``."""
        if not self.limit:
            return
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = collections.deque(maxlen=self.limit)
            times.append(now)
            self._failures.move_to_end(key)
            while len(self._failures) > self._max_tracked:
                self._failures.popitem(last=False)
