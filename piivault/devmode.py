"""``piivault dev``: everything a developer needs on one machine, loudly labelled.

SQLite under ``./var``, a persistent local OpenBao (unless PIIVAULT_VAULT_ADDR
is set), migrations, the Transit key, and the app on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from piivault import migrate
from piivault.bootstrap import bootstrap
from piivault.container import Container, build_container, startup_check
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
DEV_ADMIN = "dev-admin"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def dev_admin_key(container: Container, *, new: bool = False) -> str:
    """A banner line: a new admin key (shown once) or how to get one.

    Creates the admin client ``dev-admin`` the first time (or another one
    with ``new``); its key cannot be shown again on later starts.
    """
    from api.clients import clients_service

    store = clients_service(container)
    existing = store.find_by_name(DEV_ADMIN)
    if existing and not new:
        return (
            f"client {DEV_ADMIN} exists; its key was shown when it was created.\n"
            "             For a new one: piivault dev --new-admin-key"
        )
    _, key = store.create(name=DEV_ADMIN, role="admin", actor="piivault-dev")
    return f"{key}\n             (shown once: Authorization: Bearer <key>)"


def run_dev(var: Path, port: int, *, new_admin_key: bool = False) -> None:
    # Stop the OpenBao child on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    var = var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    env = os.environ
    env.setdefault("PIIVAULT_ENV", "development")
    env.setdefault("PIIVAULT_DATABASE_URL", f"sqlite:///{var / 'piivault.db'}")
    env.setdefault("PIIVAULT_ERASURE_LEDGER", str(var / "erasure-ledger.jsonl"))
    bao = None
    if not env.get("PIIVAULT_VAULT_ADDR"):
        from piivault.devbao import start_persistent

        click.echo("starting a local OpenBao server (./var/bao) ...", err=True)
        bao = start_persistent(var / "bao")
        env["PIIVAULT_VAULT_ADDR"] = bao.addr
        env["PIIVAULT_VAULT_TOKEN"] = bao.token
    try:
        settings = Settings.from_env()
        container = build_container(settings)
        migrate.upgrade(container.engine)
        bootstrap(container)
        startup_check(container)
        admin = dev_admin_key(container, new=new_admin_key)
        from api.app import create_app

        app = create_app(container)
        click.echo(
            BANNER.format(db=settings.database_url, vault=settings.vault_addr, port=port, admin=admin),
            err=True,
        )
        sys.stderr.flush()
        app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False, debug=False)
    finally:
        if bao is not None:
            bao.stop()
