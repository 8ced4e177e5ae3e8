"""The development server behind ``ringdesk serve`` and ``ringdesk sandbox``.

Werkzeug's own request log prints the raw path, which for Voicenter holds
the secret token, and colours it with terminal escapes that end up in log
files. This server logs one plain line per request with URL secrets masked,
and stops cleanly on SIGTERM as a PaaS or ``kill`` sends it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from typing import Any

from werkzeug.serving import WSGIRequestHandler, run_simple

from gateway.redact import mask_url

logger = logging.getLogger(__name__)


class _RequestHandler(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        # A request line too long or too broken to parse is answered before
        # the handler has a command or a path.
        logger.info(
            '%s "%s %s" %s',
            self.address_string(),
            getattr(self, "command", "-"),
            mask_url(getattr(self, "path", "-")),
            getattr(code, "value", code),
        )


def serve_forever(app: Any, host: str, port: int) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        run_simple(host, port, app, threaded=True, request_handler=_RequestHandler)
    logger.info("server stopped")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
