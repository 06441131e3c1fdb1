"""The Flask app factory. Receives a wired :class:`piivault.container.Container`."""

from __future__ import annotations

from flask import Flask

from api import health, problems
from piivault.container import Container


def create_app(container: Container) -> Flask:
    app = Flask("piivault")
    app.config["MAX_CONTENT_LENGTH"] = container.settings.max_request_bytes
    app.extensions["piivault"] = container
    problems.register(app)
    app.register_blueprint(health.blp)
    return app
