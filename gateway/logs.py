"""Logging setup for the entry points (CLI commands and gunicorn).

Modules only ever call ``logging.getLogger(__name__)``; handlers are added
here, and only when nothing else (such as a test runner) configured them.
"""

from __future__ import annotations

import logging
import os
import re

from gateway.redact import UrlSecretFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _PlainText(logging.Filter):
    """Drops the terminal colours Werkzeug puts in its banner lines, which
    end up as escape codes in log files and log drains."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _ANSI.sub("", record.getMessage())
        record.args = None
        return True


def configure_logging(level: str | None = None) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(UrlSecretFilter())
        root.addHandler(handler)
        # A bad LOG_LEVEL is reported by the settings check, by name; until
        # then, INFO.
        wanted = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
        known = logging.getLevelNamesMapping().get(wanted)
        root.setLevel(known if isinstance(known, int) else logging.INFO)

    # Their debug output holds client secrets, bearer tokens and whole
    # request bodies; no log level of ours should reveal those.
    for name in ("alembic", "oauthlib", "requests_oauthlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _PlainText) for f in werkzeug.filters):
        werkzeug.addFilter(_PlainText())
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "ringdesk"):
        server_logger = logging.getLogger(name)
        if not any(isinstance(f, UrlSecretFilter) for f in server_logger.filters):
            server_logger.addFilter(UrlSecretFilter())
