"""Storing an accepted event, and opening or joining its call's ticket.

This is the durable step: the webhook is only acknowledged after this
transaction commits. The unique (vendor, event id) key makes a repeated
webhook a no-op even when both copies arrive at the same moment; the
(vendor, call id) key gives every call at most one ticket.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from gateway.db import db_now, events, tickets
from gateway.errors import ReplayedSignature
from mappings.event import CallEvent, EventKind, dump_event
from mappings.policy import Decision

ACCEPTED = "accepted"
IGNORED = "ignored"
LATE = "late"
DUPLICATE = "duplicate"
# What a stored event can be: a duplicate is answered, never stored.
OUTCOMES = (ACCEPTED, IGNORED, LATE)


@dataclasses.dataclass(frozen=True)
class Receipt:
    """What happened to one webhook, for the answer and the log."""

    outcome: str
    event_row: int
    reason: str = ""
    ticket_row: int | None = None


def store_event(
    engine: Engine,
    event: CallEvent,
    decision: Decision,
    body: bytes,
    content_type: str,
    settle_seconds: float,
    signature: str | None = None,
    now: datetime | None = None,
) -> Receipt:
    """Store ``event`` and, if it deserves a ticket, schedule its call's ticket.

    The ticket waits ``settle_seconds`` so that the call's other events
    (Twilio's recording and transcription callbacks, Aircall's comments)
    join it. An event whose call's ticket was already built is kept as
    ``late`` and sent nowhere.

    :param signature: the per-request signature that vouched for the event.
        It may vouch for one event only: a vendor's retry repeats the event
        too, while a different event under a used signature is a request
        rewritten by someone who captured it.
    :raises ReplayedSignature: for such a rewritten request.
    """
    try:
        with engine.begin() as conn:
            now = now or db_now(conn)
            ticket = _lock_ticket(conn, event)
            if ticket is None and decision.ticket:
                due_at = now + timedelta(seconds=settle_seconds)
                _open_ticket(conn, event, due_at, now)
                ticket = _lock_ticket(conn, event)

            outcome, reason = _outcome(decision, ticket, event.kind)
            stored = {
                "body": body,
                "content_type": content_type,
                "signature": signature,
            }
            row = _insert_event(conn, event, outcome, reason, stored, now)
            if row is None:
                raise _Duplicate
    except _Duplicate:
        earlier = _existing(engine, event)
        if earlier is None:
            raise ReplayedSignature(
                "This signature was already used for another event; the request "
                "was changed after it was signed."
            ) from None
        return Receipt(DUPLICATE, earlier, "already received")

    ticket_row = ticket.id if ticket is not None else None
    return Receipt(outcome, row, reason, ticket_row)


class _Duplicate(Exception):
    """Rolls back the transaction of an event that was stored before."""


def _outcome(
    decision: Decision, ticket: Any | None, kind: EventKind
) -> tuple[str, str]:
    if ticket is not None and ticket.payload is not None and kind is EventKind.PROGRESS:
        # Ringing, answered, hung up: nothing a ticket would have shown.
        return IGNORED, decision.reason
    if ticket is not None and ticket.payload is not None:
        sent = f" as {ticket.remote_id}" if ticket.remote_id else ""
        return LATE, f"the call's ticket was already made{sent}; kept, not sent"
    if decision.ticket:
        return ACCEPTED, decision.reason
    if ticket is not None and ticket.payload is None:
        return ACCEPTED, f"joins the call's ticket ({decision.reason})"
    return IGNORED, decision.reason


def _lock_ticket(conn: Connection, event: CallEvent) -> Any | None:
    """Read the call's ticket, locking it against a worker building it now.

    On PostgreSQL the row lock makes this wait for a worker that is freezing
    the ticket's payload, so the event is either joined or known to be late.
    SQLite gets the same order from its single writer.
    """
    query = (
        sa.select(tickets.c.id, tickets.c.payload, tickets.c.remote_id)
        .where(tickets.c.vendor == event.vendor, tickets.c.call_id == event.call_id)
        .with_for_update()
    )
    return conn.execute(query).first()


def _open_ticket(
    conn: Connection, event: CallEvent, due_at: datetime, now: datetime
) -> None:
    values = {
        "vendor": event.vendor,
        "call_id": event.call_id,
        "state": "pending",
        "due_at": due_at,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    insert = _insert_for(conn)(tickets).values(**values)
    conn.execute(insert.on_conflict_do_nothing(index_elements=["vendor", "call_id"]))


def _insert_event(
    conn: Connection,
    event: CallEvent,
    outcome: str,
    reason: str,
    stored: dict[str, Any],
    now: datetime,
) -> int | None:
    values = {
        **stored,
        "vendor": event.vendor,
        "event_id": event.event_id,
        "call_id": event.call_id,
        "kind": event.kind.value,
        "outcome": outcome,
        "reason": reason,
        "event": dump_event(event),
        "content_type": stored["content_type"][:255],
        "received_at": now,
    }
    insert = (
        _insert_for(conn)(events)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(events.c.id)
    )
    row_id: int | None = conn.execute(insert).scalar()
    return row_id


def _existing(engine: Engine, event: CallEvent) -> int | None:
    query = sa.select(events.c.id).where(
        events.c.vendor == event.vendor, events.c.event_id == event.event_id
    )
    with engine.connect() as conn:
        row_id: int | None = conn.execute(query).scalar()
    return row_id


def _insert_for(conn: Connection) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert
