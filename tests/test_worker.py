"""Delivery against a real sandbox tickets API on a local port: retries,
backoff, Retry-After, tokens, dead letters, and one ticket per call."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from conftest import Sandbox
from flask.testing import FlaskClient
from helpers import make_settings, post_aircall, post_twilio, read, rows
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from gateway import outbox
from gateway.app import create_app
from gateway.config import SANDBOX_STATUS_ID, Settings
from gateway.db import attempts, tickets, utcnow
from gateway.outbox import DEAD, DELIVERED, PENDING, claim_due, replay
from gateway.worker import Worker, make_api
from mappings.routing import parse_rules


def worker_for(settings: Settings, engine: Engine) -> Worker:
    return Worker(settings, engine, make_api(settings))


def gateway(settings: Settings, engine: Engine) -> FlaskClient:
    return create_app(settings, engine, mount_sandbox=False).test_client()


def ticket_rows(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    return rows(engine, tickets)


def attempt_rows(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    return rows(engine, attempts)


def make_due(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            tickets.update()
            .where(tickets.c.state == PENDING)
            .values(due_at=utcnow() - timedelta(seconds=1))
        )


def test_ticket_is_created_with_exact_ids_and_text(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    client = gateway(delivery_settings, sqlite_engine)
    post_aircall(client, "call_commented.json")

    assert worker_for(delivery_settings, sqlite_engine).run_once() == 1

    [created] = sandbox.tickets
    ticket = created["ticket"]
    assert isinstance(ticket, dict)
    assert ticket["status"] == SANDBOX_STATUS_ID
    assert ticket["phone"] == "0500000145"
    assert "הלקוח מבקש החזר כספי על הזמנה 12345 🙏".encode() in ticket["msg"].encode()
    assert all(isinstance(value, str) for value in ticket.values())
    [row] = ticket_rows(sqlite_engine)
    assert row.state == DELIVERED
    assert row.remote_id == created["id"]
    assert isinstance(row.remote_id, str) and len(row.remote_id) == 39


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["status", "recording", "transcription"]))
)
def test_twilio_voicemail_callbacks_make_one_ticket_in_any_order(
    delivery_settings: Settings,
    sqlite_engine: Engine,
    sandbox: Sandbox,
    order: tuple[str, ...],
) -> None:
    settings = make_settings(
        **{**delivery_settings.__dict__, "settle_seconds": {"twilio": 60}}
    )
    client = gateway(settings, sqlite_engine)
    for part in order:
        post_twilio(client, f"voicemail_{part}.form")

    make_due(sqlite_engine)
    worker_for(settings, sqlite_engine).run_once()

    [created] = sandbox.tickets
    ticket = created["ticket"]
    assert isinstance(ticket, dict)
    assert ticket["subject"] == "Voicemail from +1 555-010-0125 (TEST CALLER)"
    assert "my order number is 12345" in ticket["msg"]
    assert "Recordings/RE0000000000000000000000000000b009" in ticket["msg"]
    assert "Duration: 41 s" in ticket["msg"]


def test_api_down_then_back_delivers_each_ticket_once(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    settings = make_settings(**{**delivery_settings.__dict__, "retry_max_attempts": 50})
    client = gateway(settings, sqlite_engine)
    sandbox.fail(503, count=10_000)
    body = json.loads(read("voicenter", "queue_abandoned.json"))
    for number in range(50):
        body["ivruniqueid"] = f"2026010111{number:06d}X"
        response = client.post(
            "/webhooks/voicenter/test-voicenter-url-token", json=body
        )
        assert response.status_code == 200

    worker = worker_for(settings, sqlite_engine)
    worker.run_once()
    assert sandbox.tickets == []
    sandbox.recover()
    for _ in range(10):
        make_due(sqlite_engine)
        worker.run_once()

    calls = [t["ticket"]["msg"].rsplit("call ", 1)[1] for t in sandbox.tickets]  # type: ignore[index]
    assert len(calls) == 50
    assert len(set(calls)) == 50
    assert {row.state for row in ticket_rows(sqlite_engine)} == {DELIVERED}


def test_retry_after_is_honoured(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    sandbox.fail(429, retry_after="120")
    before = utcnow()

    worker_for(delivery_settings, sqlite_engine).run_once()

    [row] = ticket_rows(sqlite_engine)
    assert row.state == PENDING
    wait = (row.due_at - before).total_seconds()
    assert 119 <= wait <= 125
    [attempt] = attempt_rows(sqlite_engine)
    assert (attempt.http_status, attempt.outcome) == (429, "retry")


def test_server_error_backs_off_then_delivers(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    sandbox.fail(502, count=2)
    worker = worker_for(delivery_settings, sqlite_engine)

    for _ in range(3):
        make_due(sqlite_engine)
        worker.run_once()

    assert [a.outcome for a in attempt_rows(sqlite_engine)] == [
        "retry",
        "retry",
        "created",
    ]
    assert len(sandbox.tickets) == 1


def test_backoff_grows_and_is_capped() -> None:
    settings = make_settings(retry_base_seconds=2.0, retry_max_seconds=30.0)
    worker = Worker(settings, sa.create_engine("sqlite://"), make_api(settings))

    waits = [worker.backoff(number) for number in range(1, 8)]

    assert 1.0 <= waits[0] <= 2.0
    assert 4.0 <= waits[2] <= 8.0
    assert all(15.0 <= wait <= 30.0 for wait in waits[4:])
    assert worker.backoff(1, retry_after=7.0) == 7.0
    # A short Retry-After through an outage must not spend every try at once.
    assert 1.0 <= worker.backoff(1, retry_after=0.0) <= 2.0
    assert 15.0 <= worker.backoff(6, retry_after=1.0) <= 30.0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "injected 400"),
        # Followed, a 301 would turn the create into a GET.
        (301, "answered 301, a redirect to ''; set TICKETS_API_URL to the URL"),
    ],
)
def test_client_error_parks_ticket_as_dead_with_response(
    delivery_settings: Settings,
    sqlite_engine: Engine,
    sandbox: Sandbox,
    status: int,
    error: str,
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    sandbox.fail(status)

    worker_for(delivery_settings, sqlite_engine).run_once()

    [row] = ticket_rows(sqlite_engine)
    assert row.state == DEAD
    assert error in row.last_error
    [attempt] = attempt_rows(sqlite_engine)
    assert (attempt.http_status, attempt.outcome) == (status, "dead")


def test_exhausted_retries_park_ticket_as_dead(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    sandbox.fail(503, count=100)
    worker = worker_for(delivery_settings, sqlite_engine)

    for _ in range(delivery_settings.retry_max_attempts + 2):
        make_due(sqlite_engine)
        worker.run_once()

    [row] = ticket_rows(sqlite_engine)
    assert row.state == DEAD
    assert row.attempts == delivery_settings.retry_max_attempts


def test_revoked_token_is_replaced_without_losing_the_ticket(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    client = gateway(delivery_settings, sqlite_engine)
    worker = worker_for(delivery_settings, sqlite_engine)
    post_aircall(client, "call_ended_missed.json")
    worker.run_once()
    sandbox.revoke_tokens()

    post_aircall(client, "call_voicemail_left.json")
    worker.run_once()

    assert len(sandbox.tickets) == 2
    assert sandbox.stats()["token_requests"] == 2
    assert [a.outcome for a in attempt_rows(sqlite_engine)] == ["created", "created"]


def test_token_is_reused_until_it_nears_expiry(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    client = gateway(delivery_settings, sqlite_engine)
    worker = worker_for(delivery_settings, sqlite_engine)
    for name in ("call_ended_missed.json", "call_voicemail_left.json"):
        post_aircall(client, name)
        worker.run_once()

    assert sandbox.stats()["token_requests"] == 1
    worker.api._session.token = {**worker.api._session.token, "expires_at": 0}

    post_aircall(client, "call_commented.json")
    worker.run_once()

    assert sandbox.stats()["token_requests"] == 2
    assert len(sandbox.tickets) == 3


def test_unreachable_api_is_retried(sqlite_engine: Engine) -> None:
    settings = make_settings(
        tickets_api_url="http://127.0.0.1:9", oauth_token_url="http://127.0.0.1:9/t"
    )
    post_aircall(gateway(settings, sqlite_engine), "call_ended_missed.json")

    worker_for(settings, sqlite_engine).run_once()

    [row] = ticket_rows(sqlite_engine)
    assert row.state == PENDING
    assert "unreachable" in row.last_error


@pytest.mark.parametrize(
    "retry_after", ["Wed, 21 Oct 2015 07:28:00", "²", "soon", "-5"]
)
def test_malformed_retry_after_still_records_a_retry(
    delivery_settings: Settings,
    sqlite_engine: Engine,
    sandbox: Sandbox,
    retry_after: str,
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    sandbox.fail(503, retry_after=retry_after)

    worker_for(delivery_settings, sqlite_engine).run_once()

    first = attempt_rows(sqlite_engine)[0]
    assert (first.http_status, first.outcome) == (503, "retry")
    assert ticket_rows(sqlite_engine)[0].state in (PENDING, DELIVERED)


def test_unexpected_error_is_recorded_not_left_leased(
    delivery_settings: Settings,
    sqlite_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(
        **{
            **delivery_settings.__dict__,
            "retry_base_seconds": 60,
            "retry_max_seconds": 60,
        }
    )
    post_aircall(gateway(settings, sqlite_engine), "call_ended_missed.json")
    worker = worker_for(settings, sqlite_engine)

    def broken(payload: dict[str, str]) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(worker.api, "create", broken)
    worker.run_once()

    [row] = ticket_rows(sqlite_engine)
    assert (row.state, row.attempts) == (PENDING, 1)
    assert "surprise" in row.last_error


def test_replay_rebuilds_the_payload_with_fixed_settings(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    sandbox.fail(400)
    worker_for(delivery_settings, sqlite_engine).run_once()
    fixed = make_settings(
        **{
            **delivery_settings.__dict__,
            "routing_rules": parse_rules('[{"when": {}, "set": {"priority_id": "7"}}]'),
        }
    )

    assert len(replay(sqlite_engine, all_dead=True)) == 1
    worker_for(fixed, sqlite_engine).run_once()

    [created] = sandbox.tickets
    assert created["ticket"]["priority_id"] == "7"  # type: ignore[index]
    assert [a.number for a in attempt_rows(sqlite_engine)] == [1, 2]


def test_lease_is_renewed_while_a_slow_send_lasts(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    settings = make_settings(**{**delivery_settings.__dict__, "lease_seconds": 0.6})
    post_aircall(gateway(settings, sqlite_engine), "call_ended_missed.json")
    requests.post(f"{sandbox.url}/_sandbox/latency", json={"seconds": 1.5}, timeout=5)
    sending = threading.Thread(target=worker_for(settings, sqlite_engine).run_once)

    sending.start()
    time.sleep(1.0)
    rival = claim_due(sqlite_engine, "rival", lambda events: {}, 0.6)
    sending.join()

    assert rival == []
    assert len(sandbox.tickets) == 1
    assert ticket_rows(sqlite_engine)[0].state == DELIVERED


def test_result_is_recorded_through_a_database_hiccup(
    delivery_settings: Settings,
    sqlite_engine: Engine,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    calls: list[int] = []
    real = outbox.record_attempt

    def flaky(*args: object, **kwargs: object) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE tickets", {}, Exception("db restarting"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("gateway.worker.record_attempt", flaky)

    worker_for(delivery_settings, sqlite_engine).run_once(batch=1, stop=_NoWait())

    assert len(calls) == 2
    assert len(sandbox.tickets) == 1
    [row] = ticket_rows(sqlite_engine)
    assert (row.state, row.remote_id) == (DELIVERED, sandbox.tickets[0]["id"])


def test_lease_outlives_a_database_outage_while_recording(
    delivery_settings: Settings,
    sqlite_engine: Engine,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A created ticket whose result cannot be recorded yet must not be taken
    over, and sent again, by another worker."""
    settings = make_settings(**{**delivery_settings.__dict__, "lease_seconds": 1.0})
    post_aircall(gateway(settings, sqlite_engine), "call_ended_missed.json")
    real = outbox.record_attempt
    back_at = time.monotonic() + 2.5

    def down_for_a_while(*args: object, **kwargs: object) -> bool:
        if time.monotonic() < back_at:
            raise OperationalError("UPDATE tickets", {}, Exception("db restarting"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("gateway.worker.record_attempt", down_for_a_while)
    first = threading.Thread(target=worker_for(settings, sqlite_engine).run_once)
    first.start()
    time.sleep(2.0)

    taken = claim_due(sqlite_engine, "another-worker", lambda _: {}, 1.0)
    first.join(timeout=10)

    assert taken == []
    assert len(sandbox.tickets) == 1
    assert ticket_rows(sqlite_engine)[0].state == DELIVERED


class _NoWait(threading.Event):
    """A stop signal whose waits return at once, to keep tests fast."""

    def wait(self, timeout: float | None = None) -> bool:
        return self.is_set()


def test_stop_request_is_honoured_between_tickets(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    client = gateway(delivery_settings, sqlite_engine)
    post_aircall(client, "call_ended_missed.json")
    post_aircall(client, "call_voicemail_left.json")
    stop = threading.Event()
    stop.set()

    assert worker_for(delivery_settings, sqlite_engine).run_once(stop=stop) == 0
    assert sandbox.tickets == []


def test_api_text_is_made_storable() -> None:
    assert outbox.storable("a\x00b\ud83d" + "x" * 600) == "ab?" + "x" * 497


def test_unanswered_send_is_sent_once_more_then_parked(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    """A CRM slower than the timeout may still create each ticket it was
    sent; resending without end would flood it with copies."""
    settings = make_settings(
        **{
            **delivery_settings.__dict__,
            "http_timeout": 0.3,
            "retry_base_seconds": 60,
            "retry_max_seconds": 60,
        }
    )
    post_aircall(gateway(settings, sqlite_engine), "call_ended_missed.json")
    requests.post(f"{sandbox.url}/_sandbox/latency", json={"seconds": 0.6}, timeout=5)
    worker = worker_for(settings, sqlite_engine)

    worker.run_once()
    [first] = ticket_rows(sqlite_engine)
    make_due(sqlite_engine)
    worker.run_once()

    assert (first.state, first.unanswered) == (PENDING, 1)
    assert "no whole answer within 0.3 s" in first.last_error
    [row] = ticket_rows(sqlite_engine)
    assert (row.state, row.unanswered) == (DEAD, 2)
    assert "may exist in the CRM already: check there" in row.last_error
    assert [a.outcome for a in attempt_rows(sqlite_engine)] == ["retry", "dead"]
    time.sleep(0.5)
    assert len(sandbox.tickets) == 2


def test_no_resend_after_an_unanswered_send_when_set_to_zero(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    settings = make_settings(
        **{**delivery_settings.__dict__, "http_timeout": 0.3, "retry_unanswered_max": 0}
    )
    post_aircall(gateway(settings, sqlite_engine), "call_ended_missed.json")
    requests.post(f"{sandbox.url}/_sandbox/latency", json={"seconds": 0.6}, timeout=5)

    worker_for(settings, sqlite_engine).run_once()

    [row] = ticket_rows(sqlite_engine)
    assert (row.state, row.unanswered) == (DEAD, 1)


def test_refused_connection_is_resent_without_limit(sqlite_engine: Engine) -> None:
    """A request that never left cannot have made a ticket."""
    settings = make_settings(
        tickets_api_url="http://127.0.0.1:9",
        oauth_token_url="http://127.0.0.1:9/t",
        retry_unanswered_max=0,
        retry_base_seconds=60,
        retry_max_seconds=60,
    )
    post_aircall(gateway(settings, sqlite_engine), "call_ended_missed.json")
    worker = worker_for(settings, sqlite_engine)
    worker.api._session.token = {"access_token": "x", "token_type": "Bearer"}

    for _ in range(3):
        make_due(sqlite_engine)
        worker.run_once()

    [row] = ticket_rows(sqlite_engine)
    assert (row.state, row.unanswered, row.attempts) == (PENDING, 0, 3)
    assert "tickets API unreachable" in row.last_error


def orphan(engine: Engine, unanswered: int = 0) -> None:
    """Leave the one ticket as a worker killed mid-send leaves it."""
    with engine.begin() as conn:
        conn.execute(
            tickets.update().values(
                state="sending",
                lease_owner="vm:4242:dead",
                lease_until=utcnow() - timedelta(seconds=1),
                payload={"subject": "Missed call", "status": SANDBOX_STATUS_ID},
                unanswered=unanswered,
            )
        )


def test_ticket_of_a_dead_worker_is_sent_again_and_the_lost_send_recorded(
    delivery_settings: Settings,
    sqlite_engine: Engine,
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    orphan(sqlite_engine)

    worker_for(delivery_settings, sqlite_engine).run_once()

    [row] = ticket_rows(sqlite_engine)
    assert (row.state, row.unanswered, row.attempts) == (DELIVERED, 1, 2)
    lost, sent = attempt_rows(sqlite_engine)
    assert (lost.outcome, lost.http_status) == ("retry", None)
    assert "worker vm:4242:dead stopped mid-send" in lost.response
    assert sent.outcome == "created"
    assert "vm:4242:dead stopped mid-send (its lease ran out)" in caplog.text
    assert len(sandbox.tickets) == 1


def test_ticket_of_a_dead_worker_is_parked_when_resends_are_spent(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    orphan(sqlite_engine, unanswered=1)

    worker_for(delivery_settings, sqlite_engine).run_once()

    [row] = ticket_rows(sqlite_engine)
    assert (row.state, row.unanswered) == (DEAD, 2)
    assert "check there before `ringdesk replay`" in row.last_error
    assert sandbox.tickets == []


def test_replay_clears_the_count_of_unanswered_sends(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    orphan(sqlite_engine, unanswered=1)
    worker = worker_for(delivery_settings, sqlite_engine)
    worker.run_once()

    replay(sqlite_engine, all_dead=True)
    worker.run_once()

    [row] = ticket_rows(sqlite_engine)
    assert (row.state, row.unanswered) == (DELIVERED, 0)


def test_credentials_in_api_urls_never_reach_the_log(
    delivery_settings: Settings,
    sqlite_engine: Engine,
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = sandbox.url.removeprefix("http://")
    settings = make_settings(
        **{
            **delivery_settings.__dict__,
            "tickets_api_url": f"http://crmuser:hunter2secret@{host}",
            "oauth_token_url": f"http://crmuser:hunter2secret@{host}/oauth/token",
        }
    )
    caplog.set_level(logging.INFO)
    post_aircall(gateway(settings, sqlite_engine), "call_ended_missed.json")
    worker = worker_for(settings, sqlite_engine)
    stop = threading.Event()
    stop.set()

    worker.run(stop)
    worker.run_once()

    assert len(sandbox.tickets) == 1
    assert f"http://***@{host}/v2/tickets/create" in caplog.text
    assert "hunter2secret" not in caplog.text
    assert "hunter2secret" not in repr(worker.api)


def test_ticket_parked_for_another_reason_still_warns_of_an_unanswered_send(
    delivery_settings: Settings, sqlite_engine: Engine, sandbox: Sandbox
) -> None:
    post_aircall(gateway(delivery_settings, sqlite_engine), "call_ended_missed.json")
    orphan(sqlite_engine)
    sandbox.fail(422)

    worker_for(delivery_settings, sqlite_engine).run_once()

    [row] = ticket_rows(sqlite_engine)
    assert row.state == DEAD
    assert "injected 422" in row.last_error
    assert "1 send(s) went unanswered, so this ticket may exist" in row.last_error
