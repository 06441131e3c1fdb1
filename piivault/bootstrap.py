"""First-run setup shared by ``piivault dev`` and ``piivault keys bootstrap``."""

from __future__ import annotations

from audit.authenticity import MAC_KEY
from audit.checkpoints import CHECKPOINT_KEY
from piivault.container import Container
from vault import KeyInfo


def bootstrap(container: Container) -> KeyInfo:
    """Create the Transit mount/KEK if missing and the system keys piivault needs.

    System keys: the ``secrets`` data key, the ``audit-events`` data key that
    authenticates audit events (:mod:`audit.authenticity`), and the audit
    checkpoint signing key (Ed25519, stored only sealed under ``secrets``), whose public key is then pinned
    outside the database (:mod:`audit.anchor`) unless a key is pinned already.

    Idempotent. Raises VaultUnavailable / VaultAuthError / StorageUnavailable,
    and ConfigurationError when the pinned key is not the keyring's.
    """
    info = container.provider.ensure_key()
    with container.session_factory() as session:
        for name in ("secrets", MAC_KEY):
            container.keyring.system_key(session, name)
        container.keyring.signer(session, CHECKPOINT_KEY)
        session.commit()
    container.audit.pin_public_key()
    return info
