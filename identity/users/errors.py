"""Errors of the console's use cases.

Each carries ``key``, a message-catalogue key (:mod:`api.console.i18n`) the
page shows in the user's language, and an English message for the CLI and
logs. No message holds a password, a session id or a subject's value.
"""

from __future__ import annotations

from typing import Any

from piivault.errors import Conflict, NotFound, PiivaultError, ValidationFailed


class ConsoleError(PiivaultError):
    """Base: a message-catalogue ``key`` with its parameters."""

    key = "error.generic"

    def __init__(self, message: str | None = None, *, key: str | None = None, **params: Any) -> None:
        super().__init__(message)
        if key is not None:
            self.key = key
        self.params = params


class InvalidInput(ConsoleError, ValidationFailed):
    """A console input breaks a rule (username, password, role, time zone, ...)."""

    code = "invalid_input"
    key = "error.invalid"


class UserExists(ConsoleError, Conflict):
    """A console user with this username exists."""

    code = "user_exists"
    key = "error.user_exists"


class UserNotFound(ConsoleError, NotFound):
    """No such console user."""

    code = "user_not_found"
    key = "error.user_not_found"


class SignInFailed(ConsoleError):
    """Sign-in refused. ``reason`` is for the audit log only: the page says the same for all."""

    code = "sign_in_failed"
    http_status = 401
    key = "login.failed"

    def __init__(self, reason: str) -> None:
        super().__init__("sign-in failed")
        self.reason = reason
