"""gunicorn's threaded worker, with idle new connections kept off the thread pool.

Stock ``gthread`` (gunicorn 27) hands every accepted connection to a pool
thread, which then waits up to five seconds for the request's first byte.
Clients that open their connections before they send (connection pools,
keep-alive clients after a deploy, a browser's preconnect) thus hold every
thread of a worker while requests that have arrived on other connections
wait behind them. ``bench/api.py --trace`` showed it as the tail that grew as
load fell: paced at a quarter of the closed-loop rate, p99 was 300-680 ms
against a p50 of 8-10 ms, every one of those requests the first on its
connection and none of them slow inside the worker. The same idle
connections, opened on purpose, stall the service for five seconds at a time.

:class:`ThreadWorker` parks a new connection with nothing to read on the
worker's poller, as gunicorn already does with kept-alive connections and
with connections whose first byte did not come in time; a pool thread takes
it once the request has arrived. Idle connections cost a file descriptor,
not a thread. (Slow senders, which send a little and stop, still hold a
thread until gunicorn's ``timeout``: a reverse proxy that buffers requests
belongs in front of any worker; ``docs/operations.md``.)
"""

from __future__ import annotations

import selectors
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import ThreadWorker as _GThreadWorker

WORKER_CLASS = "piivault.serving.ThreadWorker"


def _readable(sock: Any) -> bool:
    """Whether ``sock`` has something to read now (no waiting)."""
    with selectors.DefaultSelector() as probe:
        probe.register(sock, selectors.EVENT_READ)
        return bool(probe.select(timeout=0))


class ThreadWorker(_GThreadWorker):
    """gthread, but a connection reaches a thread only when it has a request to read."""

    def enqueue_req(self, conn: Any) -> None:
        if not conn.initialized and not conn.data_ready and not _readable(conn.sock):
            self._park(conn)
            return
        super().enqueue_req(conn)

    def _park(self, conn: Any) -> None:
        # What gunicorn does with a connection whose first byte did not come in time
        # (ThreadWorker.finish_request, _DEFER): the poller wakes us when it does, and
        # murder_pending closes it after the keep-alive timeout if it never does.
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))
