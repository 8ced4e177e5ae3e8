"""Logging setup for the entry points (CLI commands and gunicorn).

Modules only ever call ``logging.getLogger(__name__)``; handlers are added
here, and only when nothing else (such as a test runner) configured them.
"""

from __future__ import annotations

import logging
import os

from gateway.redact import UrlSecretFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | None = None) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
        root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO").upper())

    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("werkzeug", "gunicorn.access"):
        server_logger = logging.getLogger(name)
        if not any(isinstance(f, UrlSecretFilter) for f in server_logger.filters):
            server_logger.addFilter(UrlSecretFilter())
