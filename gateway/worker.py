"""The delivery worker: claim due tickets, send them, record each attempt.

Network errors, 408, 429 and 5xx are retried with exponential backoff and
jitter (or after the server's ``Retry-After``) until ``RETRY_MAX_ATTEMPTS``;
other 4xx answers and exhausted retries park the ticket as dead, kept with
the last response until ``ringdesk replay`` queues it again.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.config import Settings
from gateway.db import utcnow
from gateway.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from gateway.outbox import (
    DEAD,
    DELIVERED,
    PENDING,
    Attempt,
    Claim,
    claim_due,
    record_attempt,
)
from gateway.redact import clean
from gateway.tickets_api import RESPONSE_LIMIT, TicketsApi
from mappings.event import CallEvent
from mappings.policy import decide
from mappings.routing import route
from mappings.ticket import build_ticket, join_call

logger = logging.getLogger(__name__)

_MAX_RETRY_AFTER = 3600.0


class Worker:
    """Delivers tickets until told to stop; safe to run several at once."""

    def __init__(self, settings: Settings, engine: Engine, api: TicketsApi) -> None:
        self.settings = settings
        self.engine = engine
        self.api = api
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    def run(self, stop: threading.Event) -> None:
        logger.info("worker %s delivering to %s", self.owner, self.api.create_url)
        while not stop.is_set():
            try:
                busy = self.run_once()
            except SQLAlchemyError:
                logger.exception("database error in the worker; trying again")
                busy = 0
            except Exception:
                logger.exception("unexpected error in the worker; going on")
                busy = 0
            if not busy:
                stop.wait(self.settings.poll_seconds)
        logger.info("worker %s stopped", self.owner)

    def run_once(self, batch: int = 10) -> int:
        """Deliver up to ``batch`` due tickets; return how many were tried.

        Tickets are claimed one at a time, each just before it is sent, so a
        lease never runs out while its ticket waits behind slow sends of
        others (another worker would then send it a second time).
        """
        tried = 0
        while tried < batch:
            claims = claim_due(
                self.engine, self.owner, self.build, self.settings.lease_seconds, 1
            )
            if not claims:
                break
            self.deliver(claims[0])
            tried += 1
        return tried

    def build(self, events: Sequence[CallEvent]) -> dict[str, str]:
        return build_payload(self.settings, events)

    def deliver(self, claim: Claim) -> None:
        started = utcnow()
        clock = time.monotonic()
        try:
            remote_id, response = self.api.create(claim.payload)
        except DeliveryError as exc:
            self._failed(claim, exc, started, _elapsed_ms(clock))
            return
        except Exception as exc:
            # A bug or a surprise from a library must still be recorded as an
            # attempt, or the ticket would sit leased and be retried forever.
            logger.exception("unexpected error sending ticket #%s", claim.ticket_row)
            error = RetryableDelivery(f"unexpected error: {exc!r}")
            self._failed(claim, error, started, _elapsed_ms(clock))
            return

        attempt = Attempt(
            started,
            _elapsed_ms(clock),
            response.status_code,
            "created",
            response.text[:RESPONSE_LIMIT],
        )
        record_attempt(
            self.engine, claim, self.owner, attempt, DELIVERED, remote_id=remote_id
        )
        logger.info(
            "ticket #%s (%s call %s) created as %s",
            claim.ticket_row,
            claim.vendor,
            clean(claim.call_id),
            remote_id,
        )

    def _failed(
        self, claim: Claim, exc: DeliveryError, started: datetime, duration_ms: int
    ) -> None:
        response = exc.response or str(exc)
        number = claim.attempts + 1
        if isinstance(exc, PermanentDelivery) or (
            number >= self.settings.retry_max_attempts
        ):
            attempt = Attempt(started, duration_ms, exc.status, "dead", response)
            record_attempt(self.engine, claim, self.owner, attempt, DEAD)
            logger.error(
                "ticket #%s parked as dead after attempt %s: %s",
                claim.ticket_row,
                number,
                exc,
            )
            return

        retry_after = exc.retry_after if isinstance(exc, RetryableDelivery) else None
        delay = self.backoff(number, retry_after)
        attempt = Attempt(started, duration_ms, exc.status, "retry", response)
        due_at = utcnow() + timedelta(seconds=delay)
        record_attempt(self.engine, claim, self.owner, attempt, PENDING, due_at=due_at)
        logger.warning(
            "ticket #%s attempt %s failed (%s); next try in %.1f s",
            claim.ticket_row,
            number,
            exc,
            delay,
        )

    def backoff(self, number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``number + 1``.

        The server's ``Retry-After`` wins when it is given; otherwise the
        wait doubles with every try, capped, with "equal jitter" so that a
        burst of failures does not come back as a burst.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), _MAX_RETRY_AFTER)
        ceiling = min(
            self.settings.retry_max_seconds,
            self.settings.retry_base_seconds * 2.0 ** (number - 1),
        )
        jitter: float = random.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


def build_payload(settings: Settings, events: Sequence[CallEvent]) -> dict[str, str]:
    """The ticket payload for one call's events, routed by the rules."""
    call = join_call(events)
    decisions = [decide(event, settings.triggers_for(event.vendor)) for event in events]
    facts = {
        "vendor": call.vendor,
        "kind": call.headline_kind.value,
        "queue": call.text("queue"),
        "line": call.text("line"),
        "trigger": next((d.reason for d in decisions if d.ticket), ""),
    }
    chosen = route(settings.default_route, settings.routing_rules, facts)
    return build_ticket(call, chosen, settings.style)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def make_api(settings: Settings) -> TicketsApi:
    """The tickets API client for ``settings``."""
    return TicketsApi(
        base_url=settings.tickets_api_url,
        token_url=settings.oauth_token_url,
        client_id=settings.oauth_client_id,
        client_secret=settings.oauth_client_secret,
        timeout=settings.http_timeout,
    )
