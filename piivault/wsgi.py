"""WSGI entry point, and the two servers ``piivault serve`` can run it under.

gunicorn (``gunicorn 'piivault.wsgi:app()'``, the default) with piivault's
threaded worker (:mod:`piivault.serving`), or granian (``--server granian``),
whose HTTP handling is Rust: ``bench/api.py --baseline-server gunicorn
--server granian`` measured about a fifth less server CPU per single
detokenize and half per bare Flask request (issue 22). Both run
``--workers`` processes that each build the app with :func:`app`, after the
same start-up checks in the parent, with no access log.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from flask import Flask

from piivault import logs, metrics
from piivault.container import build_container, startup_check
from piivault.settings import Settings


def app() -> Flask:
    """Build the app from ``PIIVAULT_*`` settings after the start-up checks pass."""
    from api.app import create_app

    settings = Settings.from_env()
    settings.require_production()
    logs.configure(settings.log_format, settings.log_level)
    # Every service now, as one process serves them all: the first request pays for none.
    container = build_container(settings).build_all()
    startup_check(container)
    application = create_app(container)
    # Everything built so far (modules, the app, the schemas, catalogues) lives as long
    # as the worker: move it out of the collector's sight. Full collections then scan
    # only what requests allocate, instead of ~200,000 start-up objects each time
    # (about a tenth of a 1,000-value tokenize batch went to them).
    gc.collect()
    gc.freeze()
    return application


def gunicorn_options(host: str, port: int, workers: int, threads: int = 8) -> dict[str, Any]:
    """The gunicorn settings ``piivault serve`` runs with."""
    from piivault.serving import WORKER_CLASS

    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        # gthread, with idle new connections kept off the thread pool (piivault.serving).
        "worker_class": WORKER_CLASS,
        "threads": threads,
        # No gunicorn access log: it would log paths and query strings (which may hold ids);
        # api.observe logs each request once, with the route template, in PIIVAULT_LOG_FORMAT.
        "accesslog": None,
        "child_exit": lambda _server, worker: metrics.worker_exited(worker.pid),
    }


def _before_serving() -> None:
    """What either server does before starting workers: fail fast with one clear line per
    problem, say where audit events go, and empty the metrics directory."""
    settings = Settings.from_env()
    settings.require_production()
    logs.configure(settings.log_format, settings.log_level)
    startup_check(build_container(settings))
    if not settings.audit_sequence_inline:
        # Said once at start: the requests queue their events and something else must chain them.
        logging.getLogger("piivault.serve").info(
            "audit events are queued for `piivault audit sequence --loop`, which must run beside "
            "the API (PIIVAULT_AUDIT_SEQUENCE_INLINE=false, the production default)"
        )
    metrics.reset_multiprocess_dir()


def run_gunicorn(host: str, port: int, workers: int, **options: Any) -> None:
    from gunicorn.app.base import BaseApplication

    _before_serving()

    class _App(BaseApplication):
        def load_config(self) -> None:
            for name, value in gunicorn_options(host, port, workers, options.get("threads", 8)).items():
                self.cfg.set(name, value)

        def load(self) -> Flask:
            return app()

    _App().run()


def granian_options(host: str, port: int, workers: int, threads: int = 8) -> dict[str, Any]:
    """The granian settings ``piivault serve --server granian`` runs with."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    return {
        "target": "piivault.wsgi:app",
        "factory": True,  # each worker calls app(): its own container, pools and gc.freeze
        "interface": Interfaces.WSGI,
        "address": host,
        "port": port,
        "workers": workers,
        # The app runs on these, as on gunicorn's threads; connections wait in the Rust runtime
        # until their request has arrived, so idle ones hold no thread (piivault.serving's concern).
        "blocking_threads": threads,
        "http": HTTPModes.http1,
        # Request headers up to 64 KiB (granian's default buffer is 408 KiB); bodies are
        # streamed to Flask, which refuses one over PIIVAULT_MAX_REQUEST_BYTES before reading it.
        "http1_settings": HTTP1Settings(max_buffer_size=64 * 1024),
        "websockets": False,
        # No access log (it would log paths, which may hold ids); api.observe logs each request.
        "log_access": False,
        # granian's own lines (workers started, stopped) go through the root logger, in
        # PIIVAULT_LOG_FORMAT once each worker's app() has configured it.
        "log_dictconfig": {"loggers": {"_granian": {"propagate": True}}},
        # A worker that dies is replaced, as gunicorn's arbiter does; on SIGTERM the workers
        # finish the requests in flight, for at most 30 s (gunicorn's graceful_timeout).
        "respawn_failed_workers": True,
        "workers_kill_timeout": 30,
    }


def run_granian(host: str, port: int, workers: int, threads: int = 8) -> None:
    """Serve under granian. Prometheus multiprocess mode works as under gunicorn (each worker
    writes its files); no dead worker's files need marking: piivault exports no live gauge."""
    from granian import Granian

    _before_serving()
    Granian(**granian_options(host, port, workers, threads)).serve()
