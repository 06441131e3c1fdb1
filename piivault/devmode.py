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
from piivault.container import build_container, startup_check
from piivault.settings import Settings

BANNER = """\
==========================================================================
  piivault DEVELOPMENT MODE - not for real personal data
  database : {db}
  vault    : {vault}
  serving  : http://127.0.0.1:{port}  (/healthz, /readyz)
==========================================================================
"""


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run_dev(var: Path, port: int) -> None:
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
        from api.app import create_app

        app = create_app(container)
        click.echo(BANNER.format(db=settings.database_url, vault=settings.vault_addr, port=port), err=True)
        sys.stderr.flush()
        app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False, debug=False)
    finally:
        if bao is not None:
            bao.stop()
