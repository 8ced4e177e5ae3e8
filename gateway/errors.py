"""The gateway's exceptions.

::

    GatewayError
    ├── ConfigError               a setting is missing or malformed
    ├── WebhookRejected           a webhook is answered with a 4xx
    │   ├── BadSignature          401: missing, forged or wrong secret
    │   │   └── ReplayedSignature 401: a used signature on another event
    │   ├── BadPayload            400: unreadable or invalid body
    │   └── UnsupportedBody       415: a body format we do not read
    └── DeliveryError             sending a ticket failed
        ├── RetryableDelivery     try again later (network, 408, 429, 5xx)
        │   └── UnansweredDelivery  sent, but no answer: it may exist already
        └── PermanentDelivery     a person must look (3xx, other 4xx)

Retry decisions look at the class, never at the message.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's own errors."""


class ConfigError(GatewayError):
    """A setting is missing or malformed; the message names it."""


class WebhookRejected(GatewayError):
    """A webhook is refused; ``status`` is the HTTP answer."""

    status = 400

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadSignature(WebhookRejected):
    status = 401


class ReplayedSignature(BadSignature):
    """A signature already spent on another event: the request was rewritten."""


class BadPayload(WebhookRejected):
    status = 400


class UnsupportedBody(WebhookRejected):
    status = 415


class DeliveryError(GatewayError):
    """The tickets API did not create the ticket.

    :param status: the HTTP status, or ``None`` when no answer came.
    :param response: the start of the answer's body, for the attempt record.
    """

    def __init__(
        self, message: str, status: int | None = None, response: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.response = response


class RetryableDelivery(DeliveryError):
    """Worth another try; ``retry_after`` is the server's wish in seconds."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        response: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status, response)
        self.retry_after = retry_after


class UnansweredDelivery(RetryableDelivery):
    """The request went out but no whole answer came back.

    The tickets API has no idempotency key, so the CRM may have created the
    ticket: sending it again may make a second one.
    """


class PermanentDelivery(DeliveryError):
    """Sending again would fail again; the ticket is parked as dead."""
