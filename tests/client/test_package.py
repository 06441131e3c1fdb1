"""The client is a package of its own: it imports no server package, and the server does not import it."""

from __future__ import annotations

import subprocess
import sys

SERVER_PACKAGES = ("api", "piivault", "vault", "consent", "tokenization", "anonymize", "audit")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_the_client_needs_no_server_package():
    assert not _loaded_after("import piivault_client") & set(SERVER_PACKAGES)


def test_the_server_and_the_cli_do_not_load_the_client():
    assert "piivault_client" not in _loaded_after("import api.app, piivault.cli")
