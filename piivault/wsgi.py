"""WSGI entry point for gunicorn: ``gunicorn 'piivault.wsgi:app()'``."""

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


def run_gunicorn(host: str, port: int, workers: int, *, threads: int = 8) -> None:
    from gunicorn.app.base import BaseApplication

    # Fail fast with one clear line per problem before forking workers.
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

    class _App(BaseApplication):
        def load_config(self) -> None:
            for name, value in gunicorn_options(host, port, workers, threads).items():
                self.cfg.set(name, value)

        def load(self) -> Flask:
            return app()

    _App().run()
