"""The console's own use cases, with no Flask in them: users, sessions, lock-out, read models.

Views call these and the domain services (consent, tokenization, audit) and
nothing else. :func:`console_service` gives the container's instance.
"""

from api.console.services.service import ConsoleService, console_service

__all__ = ["ConsoleService", "console_service"]
