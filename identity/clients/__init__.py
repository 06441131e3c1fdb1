"""API clients: who may call the API, with which role, purposes and key.

``model`` (Principal, Client, roles, permissions), ``keys`` (the ``pvk_`` key format),
``store`` (the service), ``errors`` and ``tables`` (migration ``0003_clients``). The HTTP
side is :mod:`api.clients` (``/v1/clients``), the command line :mod:`access.clients_cli`
(``piivault clients``: a key with data access waits for four eyes).
"""

from typing import TYPE_CHECKING, Any

from identity.clients.model import ROLES, Client, Principal

if TYPE_CHECKING:
    from identity.clients.store import ClientStore


def __getattr__(name: str) -> Any:
    # The store (SQLAlchemy, the vault) loads on first use, so that `piivault clients --help`
    # and the model's users do not pay for it.
    if name == "ClientStore":
        from identity.clients import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["ROLES", "Client", "ClientStore", "Principal"]
