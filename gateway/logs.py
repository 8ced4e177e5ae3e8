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
        handler.addFilter(UrlSecretFilter())
        root.addHandler(handler)
        root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO").upper())

    # Their debug output holds client secrets, bearer tokens and whole
    # request bodies; no log level of ours should reveal those.
    for name in ("alembic", "oauthlib", "requests_oauthlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "ringdesk"):
        server_logger = logging.getLogger(name)
        if not any(isinstance(f, UrlSecretFilter) for f in server_logger.filters):
            server_logger.addFilter(UrlSecretFilter())
