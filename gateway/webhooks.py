"""``/webhooks/<vendor>``: receive, verify, parse, normalize, store, answer.

The answer goes out only after the event is committed, so a 2xx always
means the event is safe; delivery to the CRM happens later, in the worker,
so an outage there never makes a vendor see an error and disable the hook.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError
from sqlalchemy.exc import DataError, SQLAlchemyError
from werkzeug.exceptions import NotFound

from gateway.config import Settings
from gateway.errors import BadPayload, BadSignature, WebhookRejected
from gateway.inbox import ACCEPTED, DUPLICATE, LATE, Receipt, store_event
from gateway.payloads import Body, read_body
from gateway.redact import clean, mask_id, mask_numbers, mask_path, mask_phone
from gateway.vendors import VENDORS
from mappings.event import CallEvent
from mappings.policy import decide
from mappings.registry import schema_for

logger = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


@bp.route("/webhooks/<vendor>", methods=["GET", "POST"])
@bp.route("/webhooks/<vendor>/<token>", methods=["GET", "POST"])
def receive(vendor: str, token: str | None = None) -> tuple[Response, int]:
    if vendor not in VENDORS:
        # The name is not echoed: what sits in its place may be a secret.
        raise NotFound(f"No such vendor; expected one of {sorted(VENDORS)}.")
    if request.method not in VENDORS[vendor].methods:
        error = WebhookRejected(f"{vendor} webhooks must be sent with POST.")
        return reject(vendor, error, 405)

    try:
        event, receipt = accept_webhook(vendor, _settings())
    except WebhookRejected as exc:
        return reject(vendor, exc)
    except DataError:
        logger.warning("%s webhook has a value the database refused", vendor)
        error = BadPayload("A value in the payload cannot be stored (too long?).")
        return reject(vendor, error)
    except SQLAlchemyError:
        logger.exception("%s webhook could not be stored", vendor)
        error = WebhookRejected("The event could not be stored; send it again.")
        return reject(vendor, error, 503)

    _log_receipt(event, receipt)
    return _answer(vendor, event, receipt)


def accept_webhook(vendor: str, settings: Settings) -> tuple[CallEvent, Receipt]:
    """Run one webhook from raw body to stored event.

    :raises WebhookRejected: with the 4xx the vendor should see.
    """
    body = read_body(request, current_app.config["MAX_CONTENT_LENGTH"])
    signature = verify_signature(vendor, body, settings)
    event = load_event(vendor, body, settings)
    decision = decide(event, settings.triggers_for(vendor))
    receipt = store_event(
        current_app.extensions["ringdesk.engine"],
        event,
        decision,
        body.raw,
        body.content_type,
        settings.settle_for(vendor),
        signature,
    )
    return event, receipt


def verify_signature(vendor: str, body: Body, settings: Settings) -> str | None:
    """Check the request's proof of origin; return its signature, if any."""
    secrets = settings.secrets.get(vendor, ())
    if not secrets:
        if vendor in settings.allow_unsigned:
            return None
        raise BadSignature(
            f"{vendor} webhooks are refused: no secret is configured. Set "
            f"{VENDORS[vendor].secret_setting}, or ALLOW_UNSIGNED={vendor} to "
            "accept them unchecked."
        )
    return VENDORS[vendor].verify(request, body, secrets, settings.public_url)


def load_event(vendor: str, body: Body, settings: Settings) -> CallEvent:
    schema = schema_for(vendor, settings.style.region)
    try:
        return schema.load_event(body.fields)
    except ValidationError as exc:
        raise BadPayload(
            f"The {vendor} payload is invalid: {_describe(exc.messages)}",
            details=exc.messages,
        ) from exc


def _describe(messages: Any, path: tuple[str, ...] = ()) -> str:
    """Flatten marshmallow's nested messages into ``field: problem`` text."""
    if isinstance(messages, dict):
        return "; ".join(
            _describe(value, path if key == "_schema" else (*path, str(key)))
            for key, value in messages.items()
        )
    if isinstance(messages, list) and not all(isinstance(m, str) for m in messages):
        return "; ".join(_describe(message, path) for message in messages)
    if isinstance(messages, list):
        messages = " ".join(messages)
    return f"{'.'.join(path) or 'payload'}: {messages}"


def _settings() -> Settings:
    settings: Settings = current_app.extensions["ringdesk.settings"]
    return settings


def _log_receipt(event: CallEvent, receipt: Receipt) -> None:
    call = "" if event.call_id == event.event_id else f" call {mask_id(event.call_id)}"
    caller = mask_phone(event.caller) if event.caller else "no phone"
    reason = f" ({mask_id(receipt.reason, 200)})" if receipt.reason else ""
    logger.info(
        "%s %s %s%s from %s: %s%s",
        mask_id(event.event_id),
        event.vendor,
        event.kind.value,
        call,
        caller,
        receipt.outcome,
        reason,
    )


def _answer(vendor: str, event: CallEvent, receipt: Receipt) -> tuple[Response, int]:
    status = 202 if receipt.outcome == ACCEPTED else 200
    body: dict[str, Any] = {
        "status": receipt.outcome,
        "event_id": receipt.event_row,
        "vendor_event_id": event.event_id,
        "message": _message(receipt, _settings().settle_for(vendor)),
    }
    body, status = VENDORS[vendor].reply(body, status)
    return jsonify(body), status


def _message(receipt: Receipt, settle_seconds: float) -> str:
    if receipt.outcome == ACCEPTED and receipt.reason.startswith("joins"):
        return "Event stored; it joins its call's ticket, which is not sent yet."
    if receipt.outcome == ACCEPTED and settle_seconds:
        return (
            "Event stored; the call's ticket is sent once the call has settled "
            f"({settle_seconds:g} s after its first ticket-worthy event)."
        )
    if receipt.outcome == ACCEPTED:
        return "Event stored; its ticket is queued for delivery."
    if receipt.outcome == DUPLICATE:
        return "This event was received before; nothing new was stored."
    if receipt.outcome == LATE:
        return f"Event stored but not sent: {receipt.reason}."
    return (
        f"Event stored, no ticket: {receipt.reason}. It joins its call's "
        "ticket if a later event of the call makes one."
    )


def reject(
    vendor: str, exc: WebhookRejected, status: int | None = None
) -> tuple[Response, int]:
    """Answer a refusal as JSON, in the vendor's reply shape when it has one."""
    code = status or exc.status
    what = f"{vendor} webhook" if vendor in VENDORS else mask_path(request.path)
    logger.warning(
        "%s %s refused with %s: %s",
        request.method,
        what,
        code,
        mask_numbers(clean(exc.message, 500)),
    )
    body: dict[str, Any] = {"status": "rejected", "error": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    if vendor in VENDORS:
        body, code = VENDORS[vendor].reply(body, code)
    return jsonify(body), code
