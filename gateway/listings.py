"""What an operator reads from the store: tickets and events, as table rows.

Rows are tab-separated text for ``ringdesk tickets`` and ``ringdesk events``.
These are an operator's own commands, read in a terminal rather than kept in
a log; vendor text is still escaped. An event's row shows no phone, only
what happened and what became of it, and :func:`event_detail` shows one
event whole. A ticket's row shows its subject as the CRM does, phone
included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.db import attempts, events, tickets
from gateway.redact import clean, mask_id

TICKET_HEADER = "#\tstate\tvendor\tcall\ttries\tCRM id\tsubject / last error"
EVENT_HEADER = "#\treceived (UTC)\tvendor\tevent\tkind\toutcome\tcall's ticket\treason"
_same_call = sa.and_(
    tickets.c.vendor == events.c.vendor, tickets.c.call_id == events.c.call_id
)


def ticket_lines(engine: Engine, state: str | None, limit: int) -> Iterator[str]:
    """Tickets, newest first, with their delivery state and tries."""
    tries = (
        sa.select(sa.func.count())
        .where(attempts.c.ticket_id == tickets.c.id)
        .scalar_subquery()
        .label("tries")
    )
    query = sa.select(tickets, tries).order_by(tickets.c.id.desc()).limit(limit)
    if state:
        query = query.where(tickets.c.state == state)
    with engine.connect() as conn:
        rows = conn.execute(query).all()

    for row in rows:
        subject = (row.payload or {}).get("subject", "(waiting for its call to settle)")
        error = f" / {row.last_error}" if row.last_error else ""
        fields = (row.id, row.state, row.vendor, row.call_id, row.tries)
        yield (
            "\t".join(clean(value) for value in fields)
            + f"\t{row.remote_id or '-'}\t{clean(subject + error, 300)}"
        )


def event_lines(
    engine: Engine, outcome: str | None, call_id: str | None, limit: int
) -> Iterator[str]:
    """Events, newest first: what each webhook was and what became of it.

    Events answered ``late`` or ``ignored`` reach no ticket, and this is
    where an operator finds them. The ticket shown is their call's, whether
    or not the event made it into that ticket.
    """
    query = (
        sa.select(
            events.c.id,
            events.c.received_at,
            events.c.vendor,
            events.c.event_id,
            events.c.kind,
            events.c.outcome,
            tickets.c.id.label("ticket_id"),
            events.c.reason,
        )
        .select_from(events.outerjoin(tickets, _same_call))
        .order_by(events.c.id.desc())
        .limit(limit)
    )
    if outcome:
        query = query.where(events.c.outcome == outcome)
    if call_id:
        query = query.where(events.c.call_id == call_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()

    for row in rows:
        received = row.received_at.strftime("%Y-%m-%d %H:%M:%S")
        ticket = f"#{row.ticket_id}" if row.ticket_id else "-"
        fields = (row.id, received, row.vendor, row.event_id, row.kind, row.outcome)
        yield (
            "\t".join(clean(value, 80) for value in fields)
            + f"\t{ticket}\t{mask_id(row.reason, 300)}"
        )


def event_detail(engine: Engine, event_row: int) -> dict[str, Any] | None:
    """One stored event in full: what came, what it said, what became of it.

    This is an operator's own terminal, not a log: the caller's number and
    the notes are shown whole, as the ticket would have shown them.
    """
    query = (
        sa.select(events, tickets.c.id.label("call_ticket"), tickets.c.state)
        .select_from(events.outerjoin(tickets, _same_call))
        .where(events.c.id == event_row)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return {
        "event": row.id,
        "received_at": row.received_at.isoformat(),
        "outcome": row.outcome,
        "reason": row.reason,
        "call_ticket": row.call_ticket,
        "ticket_state": row.state,
        "normalized": row.event,
    }
