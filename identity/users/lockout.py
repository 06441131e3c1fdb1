"""Lock-out after repeated failed sign-ins, per username and per client address.

Counters live in the database, so every worker and process sees the same
ones. A key is locked for ``lock_for`` once it reaches ``limit`` failures
within ``window`` of its first; while locked, further failures do not extend
the lock. Keys are stored as HMAC-SHA256 of ``user:<name>`` or
``addr:<address>`` under the system data key ``console-lockout`` (a DEK
wrapped by the Vault KEK, as the API keys' digests are): what someone typed as
a username (sometimes a password) and the client addresses are never kept,
and a copy of the table cannot be searched for them without the key.
"""

from __future__ import annotations

import functools

from sqlalchemy.orm import Session

from identity.users import tables as t
from throttle import counters
from vault import Keyring

KEY_NAME = "console-lockout"
_LABEL = "console-lockout"


def keys(session: Session, keyring: Keyring, username: str | None, address: str) -> tuple[str | None, str]:
    """The counter keys of a username (None for none) and of a client address.

    Raises what :meth:`vault.Keyring.system_key` raises (the key is created on first use).
    """
    key = keyring.system_key(session, KEY_NAME)
    user = None if not username else key.keyed_hash(_LABEL, f"user:{username}".encode()).hex()
    return user, key.keyed_hash(_LABEL, f"addr:{address}".encode()).hex()


# The mechanism is :mod:`throttle.counters`'s, on the console's own table.
Policy = counters.Policy
locked_until = functools.partial(counters.locked_until, table=t.lockouts)
fail = functools.partial(counters.fail, table=t.lockouts)
clear = functools.partial(counters.clear, table=t.lockouts)
forget_stale = functools.partial(counters.forget_stale, table=t.lockouts)
