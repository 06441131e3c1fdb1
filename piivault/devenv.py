"""Development settings on disk: ``piivault dev`` writes the ``PIIVAULT_*`` settings it
serves with to ``./var/dev.env``; every other ``piivault`` command run in that directory
uses them when it is given no setting of its own.

Never in production: nothing is read when ``PIIVAULT_ENV=production``, nor when any
other ``PIIVAULT_*`` setting is set (the caller chose a configuration), nor from a file
that another user could have written.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from piivault.settings import PREFIX, TABLE

FILE = Path("var") / "dev.env"
URL = "PIIVAULT_URL"  # the dev server's address, for clients of its API (not a server setting)
# The made-up persons of a development database: the admin whose key `piivault dev` prints, and
# the DPO that approves the demo seeder's data access (four eyes, development only).
DEV_ADMIN = "dev-admin"
DEV_DPO = "dev-dpo"
_SETTINGS = frozenset(PREFIX + s.name for s in TABLE)
_in_use: Path | None = None


def write(path: Path, values: Mapping[str, str]) -> None:
    """Write ``values`` as ``NAME=value`` lines, readable by the owner only (it holds a Vault token)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# written by `piivault dev`: the development settings of this directory\n")
        for name, value in sorted(values.items()):
            if "\n" in value or "\r" in value:
                raise ValueError(f"{name}: a value on one line")
            fh.write(f"{name}={value}\n")


def read(path: Path) -> dict[str, str]:
    """The ``PIIVAULT_*`` lines of ``path``; other lines are ignored."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and (name in _SETTINGS or name == URL):
            values[name] = value
    return values


def use_if_present(environ: MutableMapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """Put ``./var/dev.env``'s settings into ``environ`` when it applies; return its path if so.

    It applies when the file exists, belongs to this user and only they can write it,
    ``PIIVAULT_ENV`` is not ``production``, and no other ``PIIVAULT_*`` setting is set.
    """
    global _in_use
    env = os.environ if environ is None else environ
    if env.get(PREFIX + "ENV", "").strip().lower() == "production":
        return None
    if any(env.get(name) for name in _SETTINGS - {PREFIX + "ENV"}):
        return None
    path = (cwd or Path.cwd()) / FILE
    try:
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    env.update(read(path))
    if environ is None:
        _in_use = path
    return path


def in_use() -> Path | None:
    """The development settings file this process put into its environment, if any."""
    return _in_use
