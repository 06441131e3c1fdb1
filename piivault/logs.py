"""Logging set-up for every piivault process: plain text (the development default) or JSON lines.

``PIIVAULT_LOG_FORMAT=json`` gives one JSON object per line (``python-json-logger``)
with ``time``, ``level``, ``logger``, ``message`` and the fields a record carries
as ``extra`` (the request log: ``request_id``, ``client_id``, ``route``,
``method``, ``status``, ``duration_ms``), which a log pipeline indexes without
parsing text. Neither format adds colour: the lines go to files and collectors,
never to a terminal that would interpret escape codes.

What goes into a record is the caller's business; piivault logs codes, ids and
route templates, never values, tokens or keys.
"""

from __future__ import annotations

import logging
import sys

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        # Imported for JSON only: a command at the terminal (plain text) starts without it (issue 13).
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    return logging.Formatter(PLAIN)


class _Handler(logging.StreamHandler):
    """The stderr handler :func:`configure` installs, so a second call replaces it."""


def configure(log_format: str, level: str) -> None:
    """Send the root logger to stderr in ``log_format``.

    Replaces the handler an earlier call installed, and leaves handlers others
    added (a log shipper's, a test's collector) in place.
    """
    handler = _Handler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _Handler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # gunicorn's own loggers propagate nowhere by default; route them through ours.
    for name in ("gunicorn.error",):
        gunicorn = logging.getLogger(name)
        gunicorn.handlers = []
        gunicorn.propagate = True
