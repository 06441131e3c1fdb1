"""``piivault dev``: everything a developer needs on one machine, loudly labelled.

SQLite under ``./var``, a persistent local OpenBao (unless PIIVAULT_VAULT_ADDR
is set), migrations, the Transit key, and the app on 127.0.0.1. The settings it
serves with go to ``./var/dev.env`` (:mod:`piivault.devenv`), so that every other
``piivault`` command run in the same directory works with nothing exported. Everything
it creates under ``./var`` is readable by its owner only.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
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

DEFAULT_PORT = 8080
LOCK = "dev.lock"  # held by the serving process for its lifetime: the kernel drops it when it dies
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
    return f"{new_dev_admin_key(container)}\n             (shown once: Authorization: Bearer <key>)"


def new_dev_admin_key(container: Container) -> str:
    """Another admin key; it names the person ``dev-admin``, as the first one does: the clients
    with data access it creates through the API are asked for by dev-admin (four eyes)."""
    _, key = _admin_store(container).create(
        name=DEV_ADMIN, role="admin", actor="piivault-dev", person=DEV_ADMIN
    )
    return key


def run_dev(var: Path, port: int | None = None, *, new_admin_key: bool = False) -> None:
    """Serve in development mode until interrupted; with ``new_admin_key`` while a dev
    server already runs on ``var``, only print another admin key for it.

    ``port`` None means 8080, or a free port when another program holds 8080. Raises
    ConfigurationError when a dev server already runs on ``var`` (without ``new_admin_key``),
    a ``port`` asked for is taken, or its OpenBao cannot start; each before anything is created.
    """
    var = var.resolve()
    running = _running_settings(var)
    if running is not None:
        if not new_admin_key:
            raise _already_running(running)
        container = build_container(Settings.from_env(running))
        try:
            key = new_dev_admin_key(container)
        finally:
            container.close()
        click.echo(f"new admin key for {running.get(devenv.URL)} (shown once):", err=True)
        click.echo(key)
        return
    port = serving_port(port)
    # Stop the OpenBao child on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.umask(0o077)  # the database, the ledger, extracts, OpenBao's data: the owner's only
    var.mkdir(parents=True, exist_ok=True)
    os.chmod(var, 0o700)
    lock = hold_lock(var)
    if lock is None:  # another one is starting (it has not answered yet)
        raise _already_running({})
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
        lock.close()


def _metrics_token(var: Path) -> Path:
    """``var/metrics-token``, created with a random token once: ``/metrics`` always needs one."""
    path = var / "metrics-token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(urlsafe_token(32) + "\n")
    return path


def serving_port(port: int | None) -> int:
    """The port to serve on, checked free before anything is created: a failed start must not
    leave a ``dev.env`` that names another program's server, nor spend the admin key's one showing.

    None: 8080, or a free port when another program holds it (said on stderr). A port asked for
    that is taken is a one-line ConfigurationError.
    """
    wanted = DEFAULT_PORT if port is None else port
    if _can_listen(wanted):
        return wanted
    if port is not None:
        raise ConfigurationError(
            f"port {port} is in use by another program: choose another with `piivault dev --port N` "
            "(or leave --port out for a free one)"
        )
    from piivault.devbao import free_port

    chosen = free_port()
    click.echo(f"port {DEFAULT_PORT} is in use by another program: serving on {chosen} instead", err=True)
    return chosen


def _can_listen(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen(1)
        except OSError:
            return False
    return True


def hold_lock(var: Path):
    """``var/dev.lock`` locked for this process's lifetime (an open file), or None when another
    process holds it. Unlike a health check on the URL in ``dev.env``, a lock cannot be answered
    by another program that took the port after this directory's server stopped."""
    fd = os.open(var / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return os.fdopen(fd, "r+")


def _lock_is_held(var: Path) -> bool:
    if not (var / LOCK).exists():
        return False
    lock = hold_lock(var)
    if lock is None:
        return True
    lock.close()
    return False


def _already_running(running: dict[str, str]) -> ConfigurationError:
    return ConfigurationError(
        f"piivault dev already runs in this directory ({running.get(devenv.URL, 'starting')}): "
        "stop it first, or run `piivault dev --new-admin-key` for another admin key"
    )


def _running_settings(var: Path) -> dict[str, str] | None:
    """The settings of the dev server that serves from ``var`` now: it holds ``var``'s lock and answers."""
    path = var / devenv.FILE.name
    if not path.is_file() or not _lock_is_held(var):
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
