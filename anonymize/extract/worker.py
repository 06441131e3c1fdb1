"""The in-process extract worker: threads of this process that run queued jobs
(``PIIVAULT_EXTRACT_WORKER_THREADS``), woken when this process queues one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

# The service's logger, as before the split: log filters and alert rules name it.
log = logging.getLogger("anonymize.extract.service")

# ``run_next(worker, should_stop)``: claim and run one queued job; its id, or None.
RunNext = Callable[[str, Callable[[], bool]], "str | None"]


class ExtractWorker:
    """Threads in this process that run queued extract jobs (``PIIVAULT_EXTRACT_WORKER_THREADS``).

    Started on the first :meth:`wake` (so an app that never queues an extract
    never polls), then polls every ``poll`` seconds and wakes at once when this
    process queues a job. Claiming is locked in the database, so workers in
    several processes (gunicorn) share one queue.
    """

    def __init__(self, run_next: RunNext, threads: int, poll: float = 5.0) -> None:
        self.run_next = run_next
        self.threads = threads
        self.poll = poll
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: list[threading.Thread] = []

    def wake(self) -> None:
        with self._lock:
            if not self._running and not self._stopping.is_set():
                for i in range(self.threads):
                    thread = threading.Thread(
                        target=self._loop, args=(i,), name=f"extract-worker-{i}", daemon=True
                    )
                    thread.start()
                    self._running.append(thread)
        self._wakeup.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        for thread in self._running:
            thread.join(timeout)

    def _loop(self, index: int) -> None:
        name = f"thread:{os.getpid()}:{index}"
        while not self._stopping.is_set():
            try:
                ran = self.run_next(name, self._stopping.is_set)
            except Exception as e:  # the database is down: try again after the poll interval
                log.warning("extract worker: %s", type(e).__name__)
                ran = None
            if ran is None:
                self._wakeup.wait(self.poll)
                self._wakeup.clear()
