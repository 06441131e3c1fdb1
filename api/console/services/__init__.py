"""The console's facade, with no Flask in it: :class:`ConsoleService` composes the dashboard's
counts and the subject pages' reads from their owners (consent, audit, tokenization), and holds
the users and sessions of :mod:`identity.users`.

Views call these and the domain services (consent, tokenization, audit) and
nothing else. :func:`console_service` gives the container's instance.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.console.services.service import ConsoleService, console_service


def __getattr__(name: str) -> Any:
    # Loaded on first use: `piivault users --help` needs the users module, not every read model.
    if name in ("ConsoleService", "console_service"):
        from api.console.services import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConsoleService", "console_service"]
