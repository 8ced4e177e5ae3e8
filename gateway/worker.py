"""The delivery worker: claim due tickets, send them, record each attempt.

Network errors, 408, 429 and 5xx are retried with exponential backoff and
jitter (or after the server's ``Retry-After``) until ``RETRY_MAX_ATTEMPTS``;
other answers and exhausted retries park the ticket as dead, kept with the
last response until ``ringdesk replay`` queues it again.

A send that went out and got no answer (a timeout, a dropped connection, a
worker that died mid-send) may have created the ticket, and the tickets API
has no idempotency key: such a ticket is sent again at most
``RETRY_UNANSWERED_MAX`` times, then parked for a person to check the CRM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.config import Settings
from gateway.db import utcnow
from gateway.errors import (
    DeliveryError,
    PermanentDelivery,
    RetryableDelivery,
    UnansweredDelivery,
)
from gateway.outbox import (
    DEAD,
    DELIVERED,
    PENDING,
    Attempt,
    Claim,
    claim_due,
    record_attempt,
    record_late_creation,
    record_lost_send,
    renew_lease,
)
from gateway.redact import clean, mask_id, mask_numbers
from gateway.tickets_api import TicketsApi
from mappings.event import CallEvent
from mappings.policy import decide
from mappings.routing import route
from mappings.ticket import build_ticket, join_call

logger = logging.getLogger(__name__)

_MAX_RETRY_AFTER = 3600.0
# How long the worker waits, at most, between tries to record a result or
# renew a lease through a database outage: short, so that once the database
# is back, this worker holds the ticket again before another takes it over.
_RECORD_RETRY_MAX = 5.0


class Worker:
    """Delivers tickets until told to stop; safe to run several at once."""

    def __init__(self, settings: Settings, engine: Engine, api: TicketsApi) -> None:
        self.settings = settings
        self.engine = engine
        self.api = api
        host = socket.gethostname()[:40]
        self.owner = f"{host}:{os.getpid()}:{secrets.token_hex(4)}"

    def run(self, stop: threading.Event) -> None:
        logger.info("worker %s delivering to %s", self.owner, self.api.shown_url)
        while not stop.is_set():
            try:
                busy = self.run_once(stop=stop)
            except SQLAlchemyError:
                logger.exception("database error in the worker; trying again")
                busy = 0
            except Exception:
                logger.exception("unexpected error in the worker; going on")
                busy = 0
            if not busy:
                stop.wait(self.settings.poll_seconds)
        logger.info("worker %s stopped", self.owner)

    def run_once(self, batch: int = 10, stop: threading.Event | None = None) -> int:
        """Deliver up to ``batch`` due tickets; return how many were tried.

        Tickets are claimed one at a time, each just before it is sent, so a
        lease never runs out while its ticket waits behind slow sends of
        others (another worker would then send it a second time). A stop
        request is honoured between tickets.
        """
        stop = stop or threading.Event()
        tried = 0
        while tried < batch and not stop.is_set():
            claims = claim_due(
                self.engine, self.owner, self.build, self.settings.lease_seconds, 1
            )
            if not claims:
                break
            self.deliver(claims[0], stop)
            tried += 1
        return tried

    def build(self, events: Sequence[CallEvent]) -> dict[str, str]:
        return build_payload(self.settings, events)

    def deliver(self, claim: Claim, stop: threading.Event | None = None) -> None:
        """Send one claimed ticket and record how it went.

        The lease is renewed until the result is recorded, however slowly
        the API answers, and the result is recorded even through a database
        outage: a ticket the CRM created but we did not record would be
        sent again by the worker that takes over an expired lease.
        """
        stop = stop or threading.Event()
        if claim.orphaned_by:
            resumed = self._take_over(claim, stop)
            if resumed is None:
                return
            claim = resumed

        with self._lease_kept(claim):
            result = self._send(claim)
            self._record(claim, result, stop)

    def _take_over(self, claim: Claim, stop: threading.Event) -> Claim | None:
        """Count the send a dead worker left unfinished; ``None`` if the
        ticket may not be sent again (parked) or was lost to another worker.
        """
        owner = clean(claim.orphaned_by or "", 80)
        error = UnansweredDelivery(
            f"worker {owner} stopped mid-send (its lease ran out); the CRM may "
            "have created the ticket"
        )
        attempt = Attempt(utcnow(), 0, None, "retry", str(error))
        if claim.unanswered >= self.settings.retry_unanswered_max:
            why = _check_crm(error, claim.unanswered + 1)
            dead = dataclasses.replace(attempt, outcome="dead", response=why)
            self._record(claim, _Result(DEAD, dead, error=why, unanswered=True), stop)
            return None

        logger.warning(
            "ticket #%s (%s call %s): %s; sending it again",
            claim.ticket_row,
            claim.vendor,
            mask_id(claim.call_id),
            error,
        )
        return record_lost_send(self.engine, claim, self.owner, attempt)

    def _send(self, claim: Claim) -> _Result:
        started = utcnow()
        clock = time.monotonic()
        try:
            remote_id, response = self.api.create(claim.payload)
        except DeliveryError as exc:
            return self._failure(claim, exc, started, _elapsed_ms(clock))
        except Exception as exc:
            # A bug or a surprise from a library must still be recorded as an
            # attempt, or the ticket would sit leased and be retried forever.
            logger.exception("unexpected error sending ticket #%s", claim.ticket_row)
            error = RetryableDelivery(f"unexpected error: {exc!r}")
            return self._failure(claim, error, started, _elapsed_ms(clock))

        attempt = Attempt(
            started, _elapsed_ms(clock), response.status_code, "created", response.text
        )
        return _Result(DELIVERED, attempt, remote_id=remote_id)

    def _failure(
        self, claim: Claim, exc: DeliveryError, started: datetime, duration_ms: int
    ) -> _Result:
        response = exc.response or str(exc)
        number = claim.attempts + 1
        unanswered = isinstance(exc, UnansweredDelivery)
        if (
            isinstance(exc, PermanentDelivery)
            or number >= self.settings.retry_max_attempts
            or (unanswered and claim.unanswered >= self.settings.retry_unanswered_max)
        ):
            error, sent = str(exc), claim.unanswered + int(unanswered)
            if sent:
                # Whatever parks it, a replay may now make a second ticket.
                error, response = _check_crm(exc, sent), _check_crm(response, sent)
            attempt = Attempt(started, duration_ms, exc.status, "dead", response)
            return _Result(DEAD, attempt, error=error, unanswered=unanswered)

        retry_after = exc.retry_after if isinstance(exc, RetryableDelivery) else None
        delay = self.backoff(number, retry_after)
        attempt = Attempt(started, duration_ms, exc.status, "retry", response)
        return _Result(
            PENDING, attempt, retry_in=delay, error=str(exc), unanswered=unanswered
        )

    def _record(self, claim: Claim, result: _Result, stop: threading.Event) -> None:
        wait = 1.0
        while True:
            try:
                kept = record_attempt(
                    self.engine,
                    claim,
                    self.owner,
                    result.attempt,
                    result.state,
                    retry_in=result.retry_in,
                    remote_id=result.remote_id,
                    unanswered=result.unanswered,
                )
                break
            except SQLAlchemyError:
                if stop.is_set():
                    logger.error(
                        "stopping before ticket #%s could be recorded as %s%s; "
                        "check the CRM before replaying it",
                        claim.ticket_row,
                        result.state,
                        f" ({result.remote_id})" if result.remote_id else "",
                    )
                    raise
                logger.exception(
                    "could not record ticket #%s; trying again in %.0f s",
                    claim.ticket_row,
                    wait,
                )
                stop.wait(wait)
                wait = min(wait * 2, _RECORD_RETRY_MAX)
        if kept:
            _log_result(claim, result)
        elif result.remote_id and record_late_creation(
            self.engine, claim.ticket_row, result.remote_id
        ):
            logger.warning(
                "ticket #%s was created as %s after all, though another worker "
                "had taken it over; marked delivered",
                claim.ticket_row,
                clean(result.remote_id),
            )
        else:
            _log_lost_lease(claim, result)

    @contextlib.contextmanager
    def _lease_kept(self, claim: Claim) -> Iterator[None]:
        """Renew ``claim``'s lease every third of its length until done."""
        done = threading.Event()
        every = self.settings.lease_seconds / 3

        def renew() -> None:
            wait = every
            while not done.wait(wait):
                try:
                    renew_lease(
                        self.engine,
                        claim.ticket_row,
                        self.owner,
                        self.settings.lease_seconds,
                    )
                    wait = every
                except SQLAlchemyError:
                    # Soon again: the lease must outlive the outage.
                    logger.warning("could not renew the lease of #%s", claim.ticket_row)
                    wait = min(every, _RECORD_RETRY_MAX / 5)

        thread = threading.Thread(target=renew, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def backoff(self, number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``number + 1``.

        The wait doubles with every try, capped, with "equal jitter" so that
        a burst of failures does not come back as a burst; a longer
        ``Retry-After`` from the server wins.
        """
        ceiling = min(
            self.settings.retry_max_seconds,
            self.settings.retry_base_seconds * 2.0 ** (number - 1),
        )
        jitter: float = random.uniform(0, ceiling / 2)
        wait = ceiling / 2 + jitter
        if retry_after is None:
            return wait
        # Never sooner than the server asks, nor than the backoff: a short
        # Retry-After ("0", "30") repeated through an outage would spend
        # every try long before the outage ends.
        return min(max(retry_after, wait), _MAX_RETRY_AFTER)


@dataclasses.dataclass(frozen=True)
class _Result:
    """How one send went, and what to record for it."""

    state: str
    attempt: Attempt
    retry_in: float | None = None
    remote_id: str | None = None
    error: str = ""
    unanswered: bool = False


def _check_crm(problem: DeliveryError | str, unanswered: int) -> str:
    return (
        f"{problem}; {unanswered} send(s) went unanswered, so this ticket may "
        "exist in the CRM already: check there before `ringdesk replay`"
    )


def _log_lost_lease(claim: Claim, result: _Result) -> None:
    if result.remote_id:
        logger.error(
            "ticket #%s was created as %s, but the lease ran out before that "
            "could be recorded and another worker is sending it again or has: "
            "the CRM may get it twice",
            claim.ticket_row,
            clean(result.remote_id),
        )
    else:
        logger.warning(
            "ticket #%s: this attempt's result was recorded, but another worker "
            "had taken the ticket over meanwhile",
            claim.ticket_row,
        )


def _log_result(claim: Claim, result: _Result) -> None:
    call = f"{claim.vendor} call {mask_id(claim.call_id)}"
    error = mask_numbers(clean(result.error, 300))
    if result.state == DELIVERED:
        logger.info(
            "ticket #%s (%s) created as %s",
            claim.ticket_row,
            call,
            clean(result.remote_id or ""),
        )
    elif result.state == DEAD:
        logger.error(
            "ticket #%s (%s) parked as dead: %s", claim.ticket_row, call, error
        )
    else:
        logger.warning(
            "ticket #%s (%s) attempt failed (%s); next try in %.1f s",
            claim.ticket_row,
            call,
            error,
            result.retry_in or 0.0,
        )


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
