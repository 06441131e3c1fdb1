"""``piivault dev``: everything a developer needs on one machine, loudly labelled.

SQLite under ``./var``, a persistent local OpenBao (unless PIIVAULT_VAULT_ADDR
is set), migrations, the Transit key, and the app on 127.0.0.1. The settings it
serves with go to ``./var/dev.env`` (:mod:`piivault.devenv`), so that every other
``piivault`` command run in the same directory works with nothing exported. Everything
it creates under ``./var`` is readable by its owner only.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click
import requests

from piivault import devenv, logs, migrate
from piivault.bootstrap import bootstrap
from piivault.container import Container, build_container, startup_check
from piivault.devenv import DEV_ADMIN
from piivault.errors import ConfigurationError
from piivault.ids import urlsafe_token
from piivault.settings import Settings

BANNER = """\
==========================================================================
  piivault DEVELOPMENT MODE - not for real personal data
  database : {db}
  vault    : {vault}
  serving  : http://127.0.0.1:{port}  (/healthz, /readyz, /docs)
  admin key: {admin}
==========================================================================
"""


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def dev_admin_key(container: Container, *, new: bool = False) -> str:
    """A banner line: a new admin key (shown once) or how to get one.

    Creates the admin client ``dev-admin`` the first time (or another one
    with ``new``); its key cannot be shown again on later starts.
    """
    store = _admin_store(container)
    existing = store.find_by_name(DEV_ADMIN)
    if existing and not new:
        return (
            f"client {DEV_ADMIN} exists; its key was shown when it was created.\n"
            "             For a new one: piivault dev --new-admin-key"
        )
    # The key names a person: the clients with data access it creates are asked for by dev-admin.
    _, key = store.create(name=DEV_ADMIN, role="admin", actor="piivault-dev", person=DEV_ADMIN)
    return f"{key}\n             (shown once: Authorization: Bearer <key>)"


def run_dev(var: Path, port: int, *, new_admin_key: bool = False) -> None:
    """Serve in development mode until interrupted; with ``new_admin_key`` while a dev
    server already runs on ``var``, only print another admin key for it.

    Raises ConfigurationError when a dev server already runs on ``var`` (without
    ``new_admin_key``) or its OpenBao cannot start.
    """
    var = var.resolve()
    running = _running_settings(var)
    if running is not None:
        if not new_admin_key:
            raise ConfigurationError(
                f"piivault dev already runs in this directory ({running.get(devenv.URL)}): "
                "stop it first, or run `piivault dev --new-admin-key` for another admin key"
            )
        container = build_container(Settings.from_env(running))
        try:
            _, key = _admin_store(container).create(name=DEV_ADMIN, role="admin", actor="piivault-dev")
        finally:
            container.close()
        click.echo(f"new admin key for {running.get(devenv.URL)} (shown once):", err=True)
        click.echo(key)
        return
    # Stop the OpenBao child on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.umask(0o077)  # the database, the ledger, extracts, OpenBao's data: the owner's only
    var.mkdir(parents=True, exist_ok=True)
    os.chmod(var, 0o700)
    env = os.environ
    env.setdefault("PIIVAULT_ENV", "development")
    env.setdefault("PIIVAULT_DATABASE_URL", f"sqlite:///{var / 'piivault.db'}")
    env.setdefault("PIIVAULT_ERASURE_LEDGER", str(var / "erasure-ledger.jsonl"))
    env.setdefault("PIIVAULT_EXTRACT_DIR", str(var / "extracts"))
    if not env.get("PIIVAULT_METRICS_TOKEN_FILE"):
        env["PIIVAULT_METRICS_TOKEN_FILE"] = str(_metrics_token(var))
    for private in (var / "piivault.db", var / "erasure-ledger.jsonl"):
        # Created here for the owner only (before this version: readable by all).
        os.close(os.open(private, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(private, 0o600)
    bao = None
    if not env.get("PIIVAULT_VAULT_ADDR"):
        from piivault.devbao import start_persistent

        click.echo("starting a local OpenBao server (./var/bao) ...", err=True)
        try:
            bao = start_persistent(var / "bao")
        except RuntimeError:
            raise ConfigurationError(
                f"the local OpenBao under {var / 'bao'} did not start (is another piivault dev "
                f"using this directory?): see {var / 'bao' / 'bao.log'}"
            ) from None
        env["PIIVAULT_VAULT_ADDR"] = bao.addr
        env["PIIVAULT_VAULT_TOKEN"] = bao.token
    try:
        settings = Settings.from_env()
        container = build_container(settings).build_all()  # it serves: everything, as piivault serve
        migrate.upgrade(container.engine)
        bootstrap(container)
        startup_check(container)
        admin = dev_admin_key(container, new=new_admin_key)
        from api.app import create_app

        logs.configure(settings.log_format, settings.log_level)
        app = create_app(container)
        url = f"http://127.0.0.1:{port}"
        written = {name: value for name, value in env.items() if name.startswith("PIIVAULT_")}
        devenv.write(var / devenv.FILE.name, written | {devenv.URL: url})
        click.echo(
            BANNER.format(db=settings.database_url, vault=settings.vault_addr, port=port, admin=admin),
            err=True,
        )
        sys.stderr.flush()
        _quiet_werkzeug()
        app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False, debug=False)
    finally:
        if bao is not None:
            bao.stop()


def _metrics_token(var: Path) -> Path:
    """``var/metrics-token``, created with a random token once: ``/metrics`` always needs one."""
    path = var / "metrics-token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(urlsafe_token(32) + "\n")
    return path


def _running_settings(var: Path) -> dict[str, str] | None:
    """The settings of the dev server that serves from ``var`` now, if one answers."""
    path = var / devenv.FILE.name
    if not path.is_file():
        return None
    values = devenv.read(path)
    url = values.get(devenv.URL)
    if not url:
        return None
    try:
        requests.get(url + "/healthz", timeout=2)
    except requests.RequestException:
        return None
    return values


def _admin_store(container: Container):
    return container.clients


def _quiet_werkzeug() -> None:
    """The development server logs each request through api.observe (route template, no path or
    query string); werkzeug's own line would repeat it with the path. Its colour codes only when
    stderr is a terminal: a log file or collector gets none."""
    import logging

    import werkzeug.serving

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    werkzeug.serving._log_add_style = sys.stderr.isatty()  # type: ignore[attr-defined]
