"""The Flask application factory, found by gunicorn as ``gateway:create_app()``."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import migrate
from gateway.config import Settings, load_settings
from gateway.db import make_engine
from gateway.errors import WebhookRejected
from gateway.logs import configure_logging
from gateway.redact import mask_path
from gateway.sandbox import sandbox_blueprint
from gateway.webhooks import bp as webhooks_bp
from gateway.webhooks import reject

logger = logging.getLogger(__name__)

SANDBOX_PREFIX = "/sandbox"


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    mount_sandbox: bool = False,
) -> Flask:
    """Build the gateway.

    :param mount_sandbox: also serve the sandbox tickets API under
        ``/sandbox``, as ``ringdesk serve`` does when ``TICKETS_API_URL`` is
        not set. A web process under gunicorn never does.
    """
    configure_logging()
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    if engine.dialect.name == "sqlite":
        migrate.upgrade(engine)

    app = Flask("ringdesk")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["ringdesk.settings"] = settings
    app.extensions["ringdesk.engine"] = engine
    if settings.proxy_hops:
        # X-Forwarded-Host only when asked for: a proxy that does not set it
        # (Heroku's router) passes on whatever the client put there, and the
        # Twilio signature check would then take the client's word for the
        # URL a signature was made for.
        hops = settings.proxy_hops
        host_hops = hops if settings.trust_forwarded_host else 0
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=host_hops, x_port=hops
        )

    app.register_blueprint(webhooks_bp)
    if mount_sandbox:
        app.register_blueprint(sandbox_blueprint(), url_prefix=SANDBOX_PREFIX)
        logger.warning(
            "TICKETS_API_URL is not set: tickets go to the built-in sandbox at "
            "%s, NOT to a real CRM.",
            SANDBOX_PREFIX,
        )
    elif settings.uses_sandbox:
        logger.warning(
            "TICKETS_API_URL is not set: webhooks are stored, but no worker can "
            "deliver their tickets until it is."
        )

    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.add_url_rule("/healthz", "healthz", _healthz)
    _log_open_vendors(settings, trying_out=mount_sandbox)
    return app


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    """Answer routing errors (404, 405, 413) as JSON, in the vendor's shape."""
    code = exc.code or 500
    messages = {413: "The body is larger than MAX_BODY_BYTES allows."}
    error = WebhookRejected(messages.get(code, exc.description or exc.name))
    return reject(_vendor(), error, code)


def _unexpected_error(exc: Exception) -> tuple[Response, int]:
    """Log a bug once, with its traceback, and answer JSON rather than HTML."""
    logger.exception(
        "unexpected error on %s %s", request.method, mask_path(request.path)
    )
    error = WebhookRejected("Internal error; the event was not stored. Send it again.")
    return reject(_vendor(), error, 500)


def _vendor() -> str:
    return str((request.view_args or {}).get("vendor", ""))


def _healthz() -> tuple[Response, int]:
    engine: Engine = current_app.extensions["ringdesk.engine"]
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        logger.exception("health check could not reach the database")
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok"), 200


def _log_open_vendors(settings: Settings, trying_out: bool) -> None:
    for vendor in sorted(settings.secrets):
        if settings.secrets[vendor]:
            logger.info("%s webhooks: open, secret checked", vendor)
            if vendor == "twilio" and not (settings.public_url or trying_out):
                logger.warning(
                    "twilio signatures are checked against the host each request "
                    "names; set PUBLIC_URL so that a request Twilio signed for "
                    "another URL of the same account cannot be replayed here"
                )
        elif vendor in settings.allow_unsigned:
            logger.warning(
                "%s webhooks: open WITHOUT any check (ALLOW_UNSIGNED)", vendor
            )
        else:
            logger.info("%s webhooks: refused until its secret is set", vendor)
