"""API clients: who may call the API, with which role, purposes and key.

``model`` (Principal, Client, roles), ``keys`` (the ``pvk_`` key format),
``store`` (the service), ``tables``, ``routes`` (``/v1/clients``) and ``cli``
(``piivault clients``).
"""

from typing import TYPE_CHECKING, Any

from api.clients.model import ROLES, Client, Principal

if TYPE_CHECKING:
    from api.clients.store import ClientStore, clients_service


def __getattr__(name: str) -> Any:
    # The store (SQLAlchemy, the vault) loads on first use, so that `piivault clients --help`
    # and the model's users do not pay for it.
    if name in ("ClientStore", "clients_service"):
        from api.clients import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["ROLES", "Client", "ClientStore", "Principal", "clients_service"]
