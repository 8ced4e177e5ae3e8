"""The webhook endpoint's answers: what is stored, what is refused and why."""

from __future__ import annotations

import json
import logging
import threading

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from helpers import (
    AIRCALL_TOKEN,
    VOICENTER_TOKEN,
    make_settings,
    post_aircall,
    post_fixture,
    post_twilio,
    read,
    rows,
)
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.db import events, tickets


def test_new_event_is_stored_before_202(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    response = post_aircall(client, "call_ended_missed.json")

    assert response.status_code == 202
    stored = rows(sqlite_engine, events)
    assert [row.id for row in stored] == [response.json["event_id"]]
    assert stored[0].body == read("aircall", "call_ended_missed.json")
    assert [row.call_id for row in rows(sqlite_engine, tickets)] == ["900000001"]


def test_repeated_event_is_a_duplicate(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    first = post_twilio(client, "status_no_answer.form")
    second = post_twilio(client, "status_no_answer.form")

    assert second.status_code == 200
    assert second.json["status"] == "duplicate"
    assert second.json["event_id"] == first.json["event_id"]
    assert len(rows(sqlite_engine, events)) == 1
    assert len(rows(sqlite_engine, tickets)) == 1


def test_concurrent_copies_store_one_event(app: Flask, sqlite_engine: Engine) -> None:
    barrier = threading.Barrier(8)
    answers: list[int] = []

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(post_aircall(client, "call_voicemail_left.json").status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [200] * 7 + [202]
    assert len(rows(sqlite_engine, events)) == 1
    assert len(rows(sqlite_engine, tickets)) == 1


def test_not_ticket_worthy_event_is_recorded_as_ignored(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    response = post_aircall(client, "call_ended_answered.json")

    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    assert "answered calls without notes" in response.json["message"]
    [event] = rows(sqlite_engine, events)
    assert event.outcome == "ignored"
    assert event.reason == "answered calls without notes do not make tickets"
    assert rows(sqlite_engine, tickets) == []


def test_ticket_on_setting_widens_the_policy(sqlite_engine: Engine) -> None:
    settings = make_settings(
        triggers={"aircall": frozenset({"missed", "voicemail", "noted", "answered"})}
    )
    client = create_app(settings, sqlite_engine, mount_sandbox=False).test_client()

    response = post_aircall(client, "call_ended_answered.json")

    assert response.status_code == 202


def test_unknown_vendor_is_404_and_its_name_is_not_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """What stands where a vendor's name belongs may be a misplaced secret."""
    caplog.set_level(logging.INFO)

    response = client.post("/webhooks/demo-voicenter-token", json={})

    assert response.status_code == 404
    assert response.json["error"] == (
        "No such vendor; expected one of ['aircall', 'twilio', 'voicenter']."
    )
    assert "demo-voicenter-token" not in caplog.text


def test_get_is_only_for_twilio(client: FlaskClient) -> None:
    response = client.get("/webhooks/aircall")

    assert response.status_code == 405


def test_body_over_the_limit_is_413(sqlite_engine: Engine) -> None:
    settings = make_settings(max_body_bytes=1000)
    client = create_app(settings, sqlite_engine, mount_sandbox=False).test_client()

    response = client.post(
        "/webhooks/aircall",
        data=b"{" + b" " * 2000 + b"}",
        content_type="application/json",
    )

    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.json["error"]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"token": ', "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "Expected a JSON object, got a JSON list"),
        (b"\xff\xfe{}", "application/json", "not UTF-8"),
    ],
)
def test_unreadable_body_is_400(
    client: FlaskClient, body: bytes, content_type: str, expected: str
) -> None:
    response = client.post("/webhooks/aircall", data=body, content_type=content_type)

    assert response.status_code == 400
    assert expected in response.json["error"]


def test_multipart_body_is_415(client: FlaskClient) -> None:
    response = client.post(
        f"/webhooks/voicenter/{VOICENTER_TOKEN}",
        data={"caller": "0500001234"},
        content_type="multipart/form-data",
    )

    assert response.status_code == 415
    assert "application/json" in response.json["error"]


def test_invalid_field_is_400_naming_the_field(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    payload = json.loads(read("aircall", "call_ended_missed.json"))
    payload["data"]["duration"] = "long"

    response = client.post("/webhooks/aircall", json=payload)

    assert response.status_code == 400
    assert response.json["error"] == (
        "The aircall payload is invalid: data.duration: Expected a duration in "
        "seconds, got 'long'."
    )
    assert rows(sqlite_engine, events) == []


def test_missing_required_field_is_400(client: FlaskClient) -> None:
    response = client.post(
        "/webhooks/aircall", json={"token": AIRCALL_TOKEN, "event": "call.ended"}
    )

    assert response.status_code == 400
    assert "data: Missing data for required field." in response.json["error"]


def test_voicenter_error_keeps_its_reply_shape(client: FlaskClient) -> None:
    response = client.post(
        f"/webhooks/voicenter/{VOICENTER_TOKEN}",
        json={"caller": "0500001234"},
    )

    assert response.status_code == 400
    assert response.json["Err"] == 1
    assert "ivruniqueid" in response.json["Errdesc"]


def test_event_after_ticket_was_built_is_kept_as_late(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    post_twilio(client, "voicemail_recording.form")
    with sqlite_engine.begin() as conn:
        conn.execute(tickets.update().values(payload={"subject": "built"}))

    response = post_twilio(client, "voicemail_transcription.form")

    assert response.status_code == 200
    assert response.json["status"] == "late"
    assert rows(sqlite_engine, events)[-1].outcome == "late"
    assert len(rows(sqlite_engine, tickets)) == 1


def test_database_failure_is_503_not_500(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    with sqlite_engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE attempts"))
        conn.execute(sa.text("DROP TABLE events"))

    response = post_aircall(client, "call_ended_missed.json")

    assert response.status_code == 503
    assert "send it again" in response.json["error"]


@pytest.mark.parametrize(
    ("vendor", "name"),
    [
        ("twilio", "status_busy.form"),
        ("aircall", "call_voicemail_left.json"),
        ("voicenter", "queue_abandoned.form"),
    ],
)
def test_logs_never_show_whole_phones_emails_or_tokens(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, vendor: str, name: str
) -> None:
    caplog.set_level(logging.DEBUG)

    post_fixture(client, vendor, name)
    client.post(f"/webhooks/voicenter/{VOICENTER_TOKEN}x", json={})

    text = caplog.text
    assert caplog.records
    for secret in ("972500000123", "447700900123", "0500001238", "caller@example.com"):
        assert secret not in text
    assert VOICENTER_TOKEN not in text
    assert AIRCALL_TOKEN not in text


def test_control_characters_in_vendor_ids_are_refused(client: FlaskClient) -> None:
    payload = json.loads(read("voicenter", "queue_abandoned.json"))
    payload["ivruniqueid"] = "abc\nFAKE LOG LINE"

    response = client.post(f"/webhooks/voicenter/{VOICENTER_TOKEN}", json=payload)

    assert response.status_code == 400
    assert (
        "ivruniqueid: Expected an id without control characters."
        in (response.json["error"])
    )


def test_control_characters_in_vendor_text_are_escaped_in_logs(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    payload = json.loads(read("aircall", "call_created.json"))
    payload["event"] = "call.odd\nFAKE LOG LINE"

    response = client.post("/webhooks/aircall", json=payload)

    assert response.status_code == 200
    assert "call.odd\\x0aFAKE LOG LINE" in caplog.text
    assert "\nFAKE LOG LINE" not in caplog.text


def test_healthz_checks_the_database(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
