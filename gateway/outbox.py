"""Claiming due tickets for delivery, and recording how each attempt went.

A worker claims a ticket by taking a lease on it. Claims use ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL so that several workers never take the same
ticket; a worker that dies leaves a lease that runs out, and the next worker
takes the ticket back. The first claim freezes the ticket's payload from the
call's events: every retry then sends the same ticket.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.engine import Connection, Engine

from gateway.db import attempts, db_now, events, tickets, utcnow
from mappings.event import CallEvent, load_event

logger = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
DEAD = "dead"
STATES = (PENDING, SENDING, DELIVERED, DEAD)

RESPONSE_LIMIT = 500

Builder = Callable[[Sequence[CallEvent]], dict[str, str]]


@dataclasses.dataclass(frozen=True)
class Claim:
    """A ticket leased to one worker for one send.

    :param orphaned_by: the worker whose lease on the ticket ran out while
        it was sending, when this claim took the ticket back from it.
    """

    ticket_row: int
    vendor: str
    call_id: str
    payload: dict[str, str]
    attempts: int
    unanswered: int = 0
    orphaned_by: str | None = None


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One try at sending a ticket, as the ``attempts`` table keeps it."""

    started_at: datetime
    duration_ms: int
    http_status: int | None
    outcome: str
    response: str


def claim_due(
    engine: Engine,
    owner: str,
    build: Builder,
    lease_seconds: float,
    limit: int = 10,
    now: datetime | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due tickets to ``owner``, building new payloads.

    A ticket whose payload cannot be built is parked as dead with the
    reason, so one bad call never blocks the queue.
    """
    claims = []
    with engine.begin() as conn:
        now = now or db_now(conn)
        for ticket in conn.execute(_due_query(now, limit)).all():
            payload = ticket.payload
            if payload is None:
                payload = _freeze_payload(conn, ticket, build, now)
                if payload is None:
                    continue

            conn.execute(
                tickets.update()
                .where(tickets.c.id == ticket.id)
                .values(
                    state=SENDING,
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    updated_at=now,
                )
            )
            orphaned_by = ticket.lease_owner if ticket.state == SENDING else None
            claims.append(
                Claim(
                    ticket.id,
                    ticket.vendor,
                    ticket.call_id,
                    payload,
                    ticket.attempts,
                    ticket.unanswered,
                    orphaned_by,
                )
            )
    return claims


def _due_query(now: datetime, limit: int) -> sa.Select[Any]:
    waiting = sa.and_(tickets.c.state == PENDING, tickets.c.due_at <= now)
    abandoned = sa.and_(tickets.c.state == SENDING, tickets.c.lease_until < now)
    return (
        sa.select(tickets)
        .where(sa.or_(waiting, abandoned))
        .order_by(tickets.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _freeze_payload(
    conn: Connection, ticket: sa.Row[Any], build: Builder, now: datetime
) -> dict[str, str] | None:
    # As text, so that one row that no longer parses is left out by
    # _loadable instead of failing the query, and with it every later claim.
    rows = conn.execute(
        sa.select(events.c.id, sa.cast(events.c.event, sa.Text).label("event"))
        .where(events.c.vendor == ticket.vendor, events.c.call_id == ticket.call_id)
        .order_by(events.c.id)
    ).all()
    loaded = _loadable(ticket.id, rows)
    if not loaded:
        logger.error("ticket #%s has no readable event; parked as dead", ticket.id)
        error = f"none of the call's {len(rows)} stored event(s) can be read"
        _set(conn, ticket.id, DEAD, now, last_error=error)
        return None
    try:
        payload = build(loaded)
    except Exception as exc:
        logger.exception("ticket #%s could not be built; parked as dead", ticket.id)
        _set(conn, ticket.id, DEAD, now, last_error=f"could not build: {exc}")
        return None

    conn.execute(
        events.update()
        .where(events.c.id.in_([row.id for row in rows]))
        .values(ticket_id=ticket.id)
    )
    conn.execute(
        tickets.update().where(tickets.c.id == ticket.id).values(payload=payload)
    )
    return payload


def _loadable(ticket_row: int, rows: Sequence[Any]) -> list[CallEvent]:
    """The call's stored events, leaving out any that no longer load.

    One odd event (stored by an older version, say) must not cost the call
    its ticket when the other events still say what happened.
    """
    loaded = []
    for row in rows:
        try:
            loaded.append(load_event(json.loads(row.event)))
        except (ValueError, ValidationError):
            logger.exception("event #%s left out of ticket #%s", row.id, ticket_row)
    return loaded


def record_attempt(
    engine: Engine,
    claim: Claim,
    owner: str,
    attempt: Attempt,
    state: str,
    retry_in: float | None = None,
    remote_id: str | None = None,
    unanswered: bool = False,
) -> bool:
    """Record ``attempt`` and move the ticket to ``state``.

    :param retry_in: seconds until the ticket is due again.
    :param unanswered: the attempt went out but got no answer.
    :returns: ``False`` when the lease had run out and another worker took
        the ticket; the attempt is recorded anyway, the ticket left to them.
    """
    changes: dict[str, Any] = {
        "state": state,
        "attempts": claim.attempts + 1,
        "unanswered": claim.unanswered + int(unanswered),
        "last_error": "" if state == DELIVERED else storable(attempt.response),
        "lease_owner": None,
        "lease_until": None,
        "updated_at": utcnow(),
    }
    if remote_id is not None:
        changes["remote_id"] = storable(remote_id, 255)

    with engine.begin() as conn:
        if retry_in is not None:
            changes["due_at"] = db_now(conn) + timedelta(seconds=retry_in)
        _insert_attempt(conn, claim.ticket_row, attempt)
        return _update_if_held(conn, claim.ticket_row, owner, changes)


def record_lost_send(
    engine: Engine, claim: Claim, owner: str, attempt: Attempt
) -> Claim | None:
    """Record the send that an orphaned claim's earlier worker never finished.

    The ticket stays leased to ``owner``, who sends it next.

    :returns: the claim with the send counted, or ``None`` when ``owner``
        lost the lease meanwhile.
    """
    counted = dataclasses.replace(
        claim, attempts=claim.attempts + 1, unanswered=claim.unanswered + 1
    )
    changes = {
        "attempts": counted.attempts,
        "unanswered": counted.unanswered,
        "last_error": storable(attempt.response),
        "updated_at": utcnow(),
    }
    with engine.begin() as conn:
        _insert_attempt(conn, claim.ticket_row, attempt)
        held = _update_if_held(conn, claim.ticket_row, owner, changes)
    return counted if held else None


def record_late_creation(engine: Engine, ticket_row: int, remote_id: str) -> bool:
    """Keep the CRM's id for a ticket created by a send whose lease ran out.

    Another worker took the ticket over meanwhile. Unless it is sending the
    ticket again or has delivered it, the ticket is delivered after all:
    waiting for a retry, or parked for a person to check the CRM, it would
    otherwise be sent a second time.

    :returns: whether the ticket was marked delivered.
    """
    with engine.begin() as conn:
        updated = conn.execute(
            tickets.update()
            .where(tickets.c.id == ticket_row, tickets.c.state.in_([PENDING, DEAD]))
            .values(
                state=DELIVERED,
                remote_id=storable(remote_id, 255),
                last_error="",
                updated_at=db_now(conn),
            )
        )
    return updated.rowcount == 1


def renew_lease(
    engine: Engine, ticket_row: int, owner: str, lease_seconds: float
) -> bool:
    """Extend ``owner``'s lease on a ticket it is still sending."""
    with engine.begin() as conn:
        until = db_now(conn) + timedelta(seconds=lease_seconds)
        return _update_if_held(conn, ticket_row, owner, {"lease_until": until})


def _update_if_held(
    conn: Connection, ticket_row: int, owner: str, changes: dict[str, Any]
) -> bool:
    """Change a ticket only while ``owner`` holds its lease; say if it did."""
    updated = conn.execute(
        tickets.update()
        .where(
            tickets.c.id == ticket_row,
            tickets.c.state == SENDING,
            tickets.c.lease_owner == owner,
        )
        .values(**changes)
    )
    return updated.rowcount == 1


def storable(text: str, limit: int = RESPONSE_LIMIT) -> str:
    """Text from the API made safe for any database: no NUL, no lone
    surrogates, and short."""
    text = text.replace("\x00", "")[:limit]
    return text.encode("utf-8", "replace").decode("utf-8")


def _insert_attempt(conn: Connection, ticket_row: int, attempt: Attempt) -> None:
    earlier = conn.execute(
        sa.select(sa.func.count())
        .select_from(attempts)
        .where(attempts.c.ticket_id == ticket_row)
    ).scalar_one()
    conn.execute(
        attempts.insert().values(
            ticket_id=ticket_row,
            number=earlier + 1,
            **{**dataclasses.asdict(attempt), "response": storable(attempt.response)},
        )
    )


def _set(
    conn: Connection, ticket_row: int, state: str, now: datetime, **values: Any
) -> None:
    conn.execute(
        tickets.update()
        .where(tickets.c.id == ticket_row)
        .values(state=state, updated_at=now, **values)
    )


def replay(
    engine: Engine, ticket_rows: Sequence[int] = (), all_dead: bool = False
) -> list[int]:
    """Queue dead tickets again, with a fresh retry budget.

    The payload is built anew from the call's events, so a ticket that died
    of a setting (a missing status id, a wrong routing rule) goes out right
    once the setting is fixed. Tickets that are not dead are left alone.

    :returns: the numbers of the tickets queued.
    """
    dead = tickets.c.state == DEAD
    if not all_dead:
        dead = sa.and_(dead, tickets.c.id.in_(list(ticket_rows)))
    with engine.begin() as conn:
        now = db_now(conn)
        queued = list(conn.execute(sa.select(tickets.c.id).where(dead)).scalars())
        conn.execute(
            tickets.update()
            .where(tickets.c.id.in_(queued))
            .values(
                state=PENDING,
                due_at=now,
                attempts=0,
                unanswered=0,
                payload=None,
                updated_at=now,
            )
        )
    return sorted(queued)


def states(engine: Engine, ticket_rows: Sequence[int]) -> dict[int, str]:
    """The delivery state of each of ``ticket_rows`` that exists."""
    query = sa.select(tickets.c.id, tickets.c.state).where(
        tickets.c.id.in_(list(ticket_rows))
    )
    with engine.connect() as conn:
        return {row.id: row.state for row in conn.execute(query)}
