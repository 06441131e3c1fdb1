"""API clients: who may call the API, with which role, purposes and key.

``model`` (Principal, Client, roles), ``keys`` (the ``pvk_`` key format),
``store`` (the service), ``tables``, ``routes`` (``/v1/clients``) and ``cli``
(``piivault clients``).
"""

from api.clients.model import ROLES, Client, Principal
from api.clients.store import ClientStore, clients_service

__all__ = ["ROLES", "Client", "ClientStore", "Principal", "clients_service"]
