"""The demo seeder's API key in development mode: a short-lived ``service`` client made in the
development database, through four eyes like any other, and revoked after the run.

Used by ``piivault anonymize demo seed`` when it is given no ``--key`` where ``piivault dev``
runs. It is handed the command's container (:func:`piivault.clikit.open_container`), so
this package imports nothing of the composition root.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from piivault.devenv import DEV_ADMIN, DEV_DPO
from piivault.errors import ConfigurationError

DEMO_CLIENT = "dev-demo-seed"
DEMO_PURPOSES = ("account_service", "risk_scoring", "marketing")  # the demo grants consent to the last two


def _approved_demo_client(container: Any, purposes: Sequence[str]) -> tuple[Any, str]:
    """The demo's service client, through four eyes like any other: asked for by the development
    admin, approved by a development DPO (two made-up persons of this development database,
    each acting through a credential of its own, as four eyes require: no exception here)."""
    from access import model as m
    from access.onboarding import create_client

    made = create_client(
        container.clients,
        container.access,
        m.Acting(DEV_ADMIN, "admin", f"piivault-dev:{DEV_ADMIN}"),
        name=DEMO_CLIENT,
        role="service",
        purposes=purposes,
        permissions=["write_attributes"],  # the demo stores risk attributes
        expires_in=dt.timedelta(hours=1),
    )
    if made.approval is not None and made.approval.state == m.PENDING:
        container.access.approve(m.Acting(DEV_DPO, "dpo", f"piivault-dev:{DEV_DPO}"), made.approval.id)
    return made.client, made.key


@contextlib.contextmanager
def demo_service_key(container: Any, purposes: Sequence[str] = DEMO_PURPOSES) -> Iterator[str]:
    """A short-lived ``service`` key for the demo seeder, made in ``container``'s database
    (:class:`piivault.container.Container`) and revoked when the block ends.

    Raises ConfigurationError outside development mode: no client is made then.
    """
    if container.settings.env != "development":
        raise ConfigurationError("a demo key is made only in development mode: give --key")
    client, key = _approved_demo_client(container, purposes)
    try:
        yield key
    finally:
        container.clients.revoke(client.id, actor="piivault-dev")
