"""The store on SQLite and PostgreSQL: dedup, one ticket per call, settle
windows, leases and claims."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from helpers import count_rows
from sqlalchemy.engine import Engine

from gateway.db import events, tickets, utcnow
from gateway.errors import ReplayedSignature
from gateway.inbox import ACCEPTED, DUPLICATE, IGNORED, LATE, store_event
from gateway.outbox import (
    DEAD,
    DELIVERED,
    PENDING,
    SENDING,
    Attempt,
    claim_due,
    record_attempt,
    record_late_creation,
    replay,
)
from mappings.event import CallEvent, EventKind
from mappings.policy import Decision

TICKET = Decision(True, "missed")
NO_TICKET = Decision(False, "intermediate status does not make a ticket")


def event(event_id: str = "e1", call_id: str = "c1", **values: object) -> CallEvent:
    fields: dict[str, object] = {
        "vendor": "aircall",
        "event_id": event_id,
        "call_id": call_id,
        "kind": EventKind.MISSED_CALL,
        "caller": "+15550100123",
    }
    return CallEvent(**{**fields, **values})  # type: ignore[arg-type]


def build(found: list[CallEvent]) -> dict[str, str]:
    return {"subject": f"{len(found)} events", "status": "1"}


def ticket_row(engine: Engine) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(sa.select(tickets)).one()


def store(engine: Engine, item: CallEvent, decision: Decision = TICKET, **kw: object):  # type: ignore[no-untyped-def]
    return store_event(engine, item, decision, b"{}", "application/json", 0.0, **kw)  # type: ignore[arg-type]


def test_event_is_stored_once(engine: Engine) -> None:
    first = store(engine, event())
    again = store(engine, event())

    assert first.outcome == ACCEPTED
    assert again.outcome == DUPLICATE
    assert again.event_row == first.event_row
    assert count_rows(engine, events) == 1


def test_concurrent_duplicates_cannot_both_win(engine: Engine) -> None:
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def send() -> None:
        barrier.wait()
        outcomes.append(store(engine, event()).outcome)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [ACCEPTED] + [DUPLICATE] * 5
    assert count_rows(engine, events) == 1
    assert count_rows(engine, tickets) == 1


def test_concurrent_events_of_one_call_open_one_ticket(engine: Engine) -> None:
    barrier = threading.Barrier(6)

    def send(number: int) -> None:
        barrier.wait()
        store(engine, event(f"e{number}"))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert count_rows(engine, events) == 6
    assert count_rows(engine, tickets) == 1


def test_ignored_event_opens_no_ticket_but_joins_one(engine: Engine) -> None:
    assert store(engine, event("status"), NO_TICKET).outcome == IGNORED
    assert count_rows(engine, tickets) == 0

    store(engine, event("voicemail"))
    [claim] = claim_due(engine, "w1", build, 60)

    assert claim.payload["subject"] == "2 events"


def test_ticket_waits_for_its_settle_window(engine: Engine) -> None:
    now = utcnow()
    store_event(engine, event(), TICKET, b"", "", 30.0, now=now)

    assert claim_due(engine, "w1", build, 60, now=now + timedelta(seconds=29)) == []
    assert len(claim_due(engine, "w1", build, 60, now=now + timedelta(seconds=31))) == 1


def test_event_after_payload_is_frozen_is_late(engine: Engine) -> None:
    store(engine, event("first"))
    claim_due(engine, "w1", build, 60)

    receipt = store(engine, event("second"))
    status = store(engine, event("hung up"), NO_TICKET)
    ringing = store(engine, event("ringing", kind=EventKind.PROGRESS), NO_TICKET)

    assert receipt.outcome == LATE
    assert "already made" in receipt.reason
    assert (status.outcome, status.reason) == (LATE, receipt.reason)
    assert (ringing.outcome, ringing.reason) == (IGNORED, NO_TICKET.reason)


def test_claimed_ticket_is_not_claimed_twice(engine: Engine) -> None:
    store(engine, event())

    first = claim_due(engine, "w1", build, 60)
    second = claim_due(engine, "w2", build, 60)

    assert len(first) == 1
    assert second == []
    assert ticket_row(engine).state == SENDING


def test_parallel_claims_split_the_work(engine: Engine) -> None:
    for number in range(20):
        store(engine, event(f"e{number}", f"c{number}"))
    barrier = threading.Barrier(4)
    claimed: list[int] = []

    def work(owner: str) -> None:
        barrier.wait()
        for claim in claim_due(engine, owner, build, 60, limit=5):
            claimed.append(claim.ticket_row)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(claimed) == len(set(claimed))
    assert len(claimed) == 20


def test_expired_lease_is_claimed_again(engine: Engine) -> None:
    now = utcnow()
    store(engine, event(), now=now)
    [crashed] = claim_due(engine, "dead-worker", build, 5, now=now)

    assert claim_due(engine, "w2", build, 5, now=now + timedelta(seconds=4)) == []
    [again] = claim_due(engine, "w2", build, 5, now=now + timedelta(seconds=6))

    assert again.ticket_row == crashed.ticket_row
    assert again.payload == crashed.payload


def test_leases_keep_the_database_clock_not_the_workers(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker on a host whose clock runs a minute ahead must not take over
    a ticket another worker is still sending, nor send one before its call
    has settled."""
    store(postgres_engine, event("e1", "sending"))
    store_event(
        postgres_engine, event("e2", "settling"), TICKET, b"{}", "", settle_seconds=30
    )
    [claim] = claim_due(postgres_engine, "w1", build, 10)
    ahead = utcnow() + timedelta(seconds=60)
    for module in ("gateway.db", "gateway.inbox", "gateway.outbox"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: ahead, raising=False)

    assert claim.call_id == "sending"
    assert claim_due(postgres_engine, "w2", build, 10) == []


def test_result_from_a_lost_lease_does_not_overwrite(engine: Engine) -> None:
    now = utcnow()
    store(engine, event(), now=now)
    [stale] = claim_due(engine, "w1", build, 5, now=now)
    claim_due(engine, "w2", build, 5, now=now + timedelta(seconds=6))
    attempt = Attempt(now, 10, 503, "retry", "late answer")

    kept = record_attempt(engine, stale, "w1", attempt, PENDING, retry_in=0)

    assert kept is False
    assert ticket_row(engine).state == SENDING


def test_creation_reported_after_a_takeover_marks_a_waiting_ticket_delivered(
    engine: Engine,
) -> None:
    now = utcnow()
    store(engine, event(), now=now)
    [stale] = claim_due(engine, "w1", build, 5, now=now)
    [taken] = claim_due(engine, "w2", build, 5, now=now + timedelta(seconds=6))
    sending_again = record_late_creation(engine, stale.ticket_row, "4242")
    retry = Attempt(now, 10, 503, "retry", "busy")
    record_attempt(engine, taken, "w2", retry, PENDING, retry_in=60)

    created = Attempt(now, 10, 201, "created", "{}")
    kept = record_attempt(engine, stale, "w1", created, DELIVERED, remote_id="4242")
    marked = record_late_creation(engine, stale.ticket_row, "4242")

    assert (sending_again, kept, marked) == (False, False, True)
    row = ticket_row(engine)
    assert (row.state, row.remote_id, row.last_error) == (DELIVERED, "4242", "")
    assert claim_due(engine, "w2", build, 5, now=now + timedelta(seconds=120)) == []


def test_delivery_is_recorded_with_remote_id(engine: Engine) -> None:
    store(engine, event())
    [claim] = claim_due(engine, "w1", build, 60)
    ticket_id = "271911966272026940869079307116515873576"
    attempt = Attempt(utcnow(), 12, 201, "created", "{}")

    assert record_attempt(engine, claim, "w1", attempt, DELIVERED, remote_id=ticket_id)

    row = ticket_row(engine)
    assert (row.state, row.remote_id, row.attempts) == (DELIVERED, ticket_id, 1)


def test_dead_ticket_is_replayed(engine: Engine) -> None:
    store(engine, event())
    [claim] = claim_due(engine, "w1", build, 60)
    record_attempt(engine, claim, "w1", Attempt(utcnow(), 5, 400, "dead", "bad"), DEAD)

    assert ticket_row(engine).last_error == "bad"
    assert len(replay(engine, all_dead=True)) == 1
    assert ticket_row(engine).state == PENDING
    assert len(claim_due(engine, "w1", build, 60)) == 1


def test_unbuildable_ticket_is_parked_not_blocking(engine: Engine) -> None:
    store(engine, event("a", "broken"))
    store(engine, event("b", "fine"))

    def picky(found: list[CallEvent]) -> dict[str, str]:
        if found[0].call_id == "broken":
            raise ValueError("cannot build this one")
        return build(found)

    claims = claim_due(engine, "w1", picky, 60)

    assert [c.call_id for c in claims] == ["fine"]
    with engine.connect() as conn:
        state, error = conn.execute(
            sa.select(tickets.c.state, tickets.c.last_error).where(
                tickets.c.call_id == "broken"
            )
        ).one()
    assert state == DEAD
    assert "cannot build this one" in error


def test_unreadable_stored_event_never_blocks_the_queue(engine: Engine) -> None:
    """A row damaged by hand or by an old version costs only its own call."""
    store(engine, event("a1", "damaged"))
    store(engine, event("a2", "damaged"), NO_TICKET)
    store(engine, event("b1", "alone"))
    store(engine, event("c1", "fine"))
    broken = "{not json" if engine.dialect.name == "sqlite" else '"not an event"'
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE events SET event = '{broken}' WHERE event_id IN ('a2', 'b1')"
            )
        )

    claims = claim_due(engine, "w1", build, 60)

    assert sorted((c.call_id, c.payload["subject"]) for c in claims) == [
        ("damaged", "1 events"),
        ("fine", "1 events"),
    ]
    with engine.connect() as conn:
        alone = conn.execute(
            sa.select(tickets.c.state).where(tickets.c.call_id == "alone")
        ).scalar_one()
    assert alone == DEAD
    assert claim_due(engine, "w1", build, 60) == []


def test_signature_vouches_for_one_event_only(engine: Engine) -> None:
    first = store(engine, event("e1"), signature="sig-1")
    retry = store(engine, event("e1"), signature="sig-1")

    with pytest.raises(ReplayedSignature):
        store(engine, event("e2"), signature="sig-1")

    assert (first.outcome, retry.outcome) == (ACCEPTED, DUPLICATE)
    assert store(engine, event("e3"), signature=None).outcome == ACCEPTED
    assert store(engine, event("e4"), signature=None).outcome == ACCEPTED
    assert count_rows(engine, events) == 3
