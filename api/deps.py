"""Access to the wired container from inside a request."""

from __future__ import annotations

from flask import current_app

from piivault.container import Container


def current_container() -> Container:
    """The container the app was created with."""
    return current_app.extensions["piivault"]
