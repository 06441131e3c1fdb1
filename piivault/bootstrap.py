"""First-run setup shared by ``piivault dev`` and ``piivault keys bootstrap``."""

from __future__ import annotations

from audit.sequencer import CHECKPOINT_KEY
from piivault.container import Container
from vault import KeyInfo


def bootstrap(container: Container) -> KeyInfo:
    """Create the Transit mount/KEK if missing and the system keys piivault needs.

    System keys: the ``secrets`` data key and the audit checkpoint signing key
    (Ed25519, stored only sealed under it).

    Idempotent. Raises VaultUnavailable / VaultAuthError / StorageUnavailable.
    """
    info = container.provider.ensure_key()
    with container.session_factory() as session:
        for name in ("secrets",):
            container.keyring.system_key(session, name)
        container.keyring.signer(session, CHECKPOINT_KEY)
        session.commit()
    return info
