"""First-run setup shared by ``piivault dev`` and ``piivault keys bootstrap``."""

from __future__ import annotations

from piivault.container import Container
from vault import KeyInfo


def bootstrap(container: Container) -> KeyInfo:
    """Create the Transit mount/KEK if missing and the system keys piivault needs.

    Idempotent. Raises VaultUnavailable / VaultAuthError / StorageUnavailable.
    """
    info = container.provider.ensure_key()
    with container.session_factory() as session:
        for name in ("secrets",):
            container.keyring.system_key(session, name)
        session.commit()
    return info
