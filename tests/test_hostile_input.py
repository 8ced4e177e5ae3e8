"""Hostile and odd input: each gets a clear 4xx, never a 500 or a lost event."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import parse_qsl, quote

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from helpers import (
    FORM,
    TWILIO_TOKEN,
    VOICENTER_TOKEN,
    count_rows,
    make_settings,
    read,
    rows,
)
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

from gateway.app import create_app
from gateway.db import events
from gateway.logs import configure_logging
from gateway.redact import UrlSecretFilter, mask_id, mask_numbers, mask_url
from gateway.signatures import twilio_signature

VOICENTER = f"/webhooks/voicenter/{VOICENTER_TOKEN}"


def voicenter_payload(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = json.loads(read("voicenter", "queue_abandoned.json"))
    payload.update(changes)
    return payload


def test_twilio_json_without_body_hash_is_not_signed(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    """A signature over the URL alone must not vouch for a JSON body."""
    url = "http://localhost/webhooks/twilio?CallSid=CA01&CallStatus=completed"
    signature = twilio_signature(TWILIO_TOKEN, url)
    forged = {"CallSid": "CAFORGED", "CallStatus": "no-answer", "From": "+15550100199"}

    response = client.post(
        url.removeprefix("http://localhost"),
        json=forged,
        headers={"X-Twilio-Signature": signature},
    )

    assert response.status_code == 401
    assert "bodySHA256" in response.json["error"]
    assert count_rows(sqlite_engine, events) == 0


def test_chunked_body_over_the_limit_is_413(sqlite_engine: Engine) -> None:
    settings = make_settings(max_body_bytes=2000)
    client = create_app(settings, sqlite_engine, mount_sandbox=False).test_client()
    body = json.dumps(voicenter_payload(queuename="x" * 5000)).encode()

    response = client.post(
        VOICENTER,
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_base={"wsgi.input_terminated": True},
    )

    assert response.status_code == 413
    assert response.json["Err"] == 2
    assert count_rows(sqlite_engine, events) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"[" * 50_000, "application/json", "nested too deeply"),
        (b'{"a": ' * 50_000, "application/json", "nested too deeply"),
        (b'{"ivruniqueid": "a\\u0000b"}', "application/json", "NUL character"),
        (b"ivruniqueid=a%00b", "application/x-www-form-urlencoded", "NUL character"),
        (b"ivruniqueid=%FF", "application/x-www-form-urlencoded", "not UTF-8"),
    ],
)
def test_unreadable_body_is_400(
    client: FlaskClient, body: bytes, content_type: str, message: str
) -> None:
    response = client.post(VOICENTER, data=body, content_type=content_type)

    assert response.status_code == 400
    assert message in response.json["error"]
    assert response.json["Err"] == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ivruniqueid": "x" * 300}, "at most 200 characters"),
        ({"ivruniqueid": "  "}, "non-empty id"),
        ({"ivruniqueid": 1.5}, "string or whole number"),
        ({"duration": -5}, "duration: Expected a duration in seconds, got -5."),
        ({"duration": "NaN"}, "duration: Expected a duration in seconds"),
        ({"duration": True}, "duration: Expected a duration in seconds"),
        ({"time": 253402300799}, "between 1970 and 3000"),
        ({"time": True}, "between 1970 and 3000"),
        ({"IVR": "[" * 5000}, "nested too deeply"),
        ({"caller": {"number": "0500001234"}}, "caller: Expected text or a whole"),
        ({"queuename": 2.5}, "queuename: Expected text or a whole number"),
    ],
)
def test_invalid_values_are_400_naming_the_field(
    client: FlaskClient, changes: dict[str, object], message: str
) -> None:
    response = client.post(VOICENTER, json=voicenter_payload(**changes))

    assert response.status_code == 400
    assert message in response.json["error"]


def test_odd_shapes_inside_known_fields_do_not_crash(client: FlaskClient) -> None:
    payload = voicenter_payload(aiData={"transcript": 5, "insights": "none"})

    response = client.post(VOICENTER, json=payload)

    assert response.status_code == 200


def test_json_sent_as_text_plain_is_read_as_json(client: FlaskClient) -> None:
    response = client.post(
        VOICENTER,
        data=read("voicenter", "queue_abandoned.json"),
        content_type="text/plain",
    )

    assert response.status_code == 200
    assert response.json["status"] == "accepted"


def test_twilio_timestamp_without_zone_is_read_as_utc(client: FlaskClient) -> None:
    body = read("twilio", "status_no_answer.form").replace(b"%2B0000", b"-0000")
    url = "http://localhost/webhooks/twilio"
    signature = twilio_signature(
        TWILIO_TOKEN, url, parse_qsl(body.decode(), keep_blank_values=True)
    )

    response = client.post(
        "/webhooks/twilio",
        data=body,
        content_type=FORM,
        headers={"X-Twilio-Signature": signature},
    )

    assert response.status_code == 202


def test_refusal_logs_mask_phone_numbers(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    client.post(VOICENTER, json=voicenter_payload(time="+972549998877"))

    assert "972549998877" not in caplog.text
    assert "77" in caplog.text


@pytest.mark.parametrize(
    ("event_id", "hidden"),
    [("+972-54-000-4321", "54-000-43"), ("jane.roe@example.com", "jane.roe")],
)
def test_personal_data_in_vendor_ids_is_masked_in_logs(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, event_id: str, hidden: str
) -> None:
    caplog.set_level(logging.INFO)

    response = client.post(VOICENTER, json=voicenter_payload(ivruniqueid=event_id))

    assert response.status_code == 200
    assert hidden not in caplog.text


def test_vendor_ids_and_addresses_stay_readable_in_logs() -> None:
    """They are how an operator finds an event or a failing host."""
    assert mask_id("CA0000000000000000000000000000a001") == (
        "CA0000000000000000000000000000a001"
    )
    assert mask_id("900000001") == "900000001"
    error = "HTTPConnectionPool(host='127.0.0.1', port=9): refused"
    assert mask_numbers(error) == error


def test_access_log_fields_are_masked() -> None:
    """gunicorn hands its access-log fields to the record as a mapping."""
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, "%(r)s", None, None
    )
    record.args = {"r": f"POST /webhooks/voicenter/{VOICENTER_TOKEN} HTTP/1.1"}

    UrlSecretFilter().filter(record)

    assert VOICENTER_TOKEN not in record.getMessage()


def test_oauth_libraries_never_log_below_warning() -> None:
    configure_logging()

    for name in ("oauthlib", "requests_oauthlib"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING


def test_unexpected_error_is_json_500_in_vendor_shape(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("gateway.webhooks.store_event", broken)

    response = client.post(VOICENTER, json=voicenter_payload())

    assert response.status_code == 500
    assert response.json["Err"] == 2
    assert "not stored" in response.json["Errdesc"]


def test_chunked_body_within_the_limit_is_read_whole(sqlite_engine: Engine) -> None:
    client = create_app(
        make_settings(), sqlite_engine, mount_sandbox=False
    ).test_client()

    response = client.post(
        VOICENTER,
        input_stream=io.BytesIO(read("voicenter", "queue_abandoned.json")),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_base={"wsgi.input_terminated": True},
    )

    assert response.status_code == 200
    assert response.json["status"] == "accepted"


def test_body_cut_short_of_its_content_length_is_400(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    """gunicorn hands over what came before the connection closed; stored,
    a cut caller number would make the vendor's full retry a duplicate."""
    body = read("voicenter", "queue_abandoned.form")

    response = client.post(
        VOICENTER,
        input_stream=io.BytesIO(body[:-2]),
        content_type=FORM,
        environ_overrides={
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input_terminated": True,
        },
    )

    assert response.status_code == 400
    assert (
        f"ended after {len(body) - 2} of the {len(body)} bytes"
        in (response.json["error"])
    )
    assert count_rows(sqlite_engine, events) == 0


def signed_twilio(client: FlaskClient, body: bytes) -> TestResponse:
    url = "http://localhost/webhooks/twilio"
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    return client.post(
        "/webhooks/twilio",
        data=body,
        content_type=FORM,
        headers={"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, pairs)},
    )


def test_twilio_field_boundary_shift_is_refused(client: FlaskClient) -> None:
    """``CallSid=X&CallStatus=Y`` signs like ``CallSid=XCallStatusY``."""
    original = read("twilio", "dial_no_answer.form").decode()
    shifted = original.replace("&CallStatus=in-progress", "").replace(
        "CallSid=CA0000000000000000000000000000a008",
        "CallSid=CA0000000000000000000000000000a008CallStatusin-progress",
    )

    assert signed_twilio(client, original.encode()).status_code == 202
    assert signed_twilio(client, shifted.encode()).status_code == 400


def test_twilio_repeated_field_is_refused(client: FlaskClient) -> None:
    body = read("twilio", "status_busy.form") + b"&CallStatus=no-answer"

    assert signed_twilio(client, body).status_code == 401


def test_lone_surrogate_in_json_is_400(client: FlaskClient) -> None:
    body = read("voicenter", "queue_abandoned.json").replace(
        "תמיכה טכנית".encode(), b"\\ud83d"
    )

    response = client.post(VOICENTER, data=body, content_type="application/json")

    assert response.status_code == 400
    assert "surrogate" in response.json["error"]


def test_twilio_get_stores_the_signed_query(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    query = read("twilio", "status_no_answer.form").decode()
    url = f"http://localhost/webhooks/twilio?{query}"

    response = client.get(
        f"/webhooks/twilio?{query}",
        data=b"unsigned extra bytes",
        headers={"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url)},
    )

    assert response.status_code == 202
    with sqlite_engine.connect() as conn:
        body = conn.execute(sa.select(events.c.body)).scalar_one()
    assert body == query.encode()


def test_twilio_get_with_nul_is_400(client: FlaskClient) -> None:
    query = read("twilio", "status_no_answer.form").decode() + "&CallerName=a%00b"
    url = f"http://localhost/webhooks/twilio?{query}"

    response = client.get(
        f"/webhooks/twilio?{query}",
        headers={"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url)},
    )

    assert response.status_code == 400
    assert "NUL" in response.json["error"]


@pytest.mark.parametrize(
    "line",
    [
        "POST /webhooks/voicenter/secret-token HTTP/1.1",
        "POST /webhooks/voicenter%2Fsecret-token HTTP/1.1",
        "POST /webhooks/voicenter?%74oken=secret-token HTTP/1.1",
        "GET /webhooks/twilio?From=%2B15550100123&CallSid=CA1 HTTP/1.1",
        "POST /%77ebhooks/voicenter/secret-token HTTP/1.1",
        "POST /webhooks%2Fvoicenter/secret-token HTTP/1.1",
        "POST /webhooks/voicenter%3Ftoken=secret-token HTTP/1.1",
        "POST /webhooks/secret-token HTTP/1.1",
    ],
)
def test_webhook_urls_are_masked_past_the_vendor(line: str) -> None:
    masked = mask_url(line)

    assert "secret-token" not in masked
    assert "15550100123" not in masked
    assert masked.endswith("*** HTTP/1.1")


def test_vendor_name_in_path_cannot_forge_log_lines(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    response = client.post("/webhooks/x%0aFORGED LINE%1b[31m", json={})

    assert response.status_code == 404
    assert "FORGED LINE" not in caplog.text
    assert "\x1b" not in caplog.text


def test_refusal_off_the_webhooks_names_the_path(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    response = client.get("/wp-login.php%0AX")

    assert response.status_code == 404
    assert "GET /wp-login.php%0AX refused with 404" in caplog.text


def test_server_log_lines_are_plain_and_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging()
    caplog.set_level(logging.INFO)

    logging.getLogger("werkzeug").info(
        '"\x1b[35mPOST %s HTTP/1.1\x1b[0m" 200',
        f"/webhooks/voicenter/{VOICENTER_TOKEN}",
    )

    assert '"POST /webhooks/voicenter/*** HTTP/1.1" 200' in caplog.text
    assert VOICENTER_TOKEN not in caplog.text


def test_used_twilio_signature_cannot_vouch_for_another_event(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    """Twilio's signature joins names and values without separators, so a
    captured request can be reshaped (``CallStatus=x`` into ``CallSt=atusx``)
    and still match; a signature is therefore good for one event only."""
    original = read("twilio", "dial_no_answer.form").decode()
    reshaped = original.replace("CallStatus=in-progress", "CallSt=atusin-progress")
    url = "http://localhost/webhooks/twilio"
    pairs = parse_qsl(original, keep_blank_values=True)
    headers = {"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, pairs)}

    first = client.post(url, data=original, content_type=FORM, headers=headers)
    again = client.post(url, data=original, content_type=FORM, headers=headers)
    forged = client.post(url, data=reshaped, content_type=FORM, headers=headers)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json["status"] == "duplicate"
    assert forged.status_code == 401
    assert "already used" in forged.json["error"]
    assert count_rows(sqlite_engine, events) == 1


def test_non_ascii_body_hash_is_refused_not_a_crash(client: FlaskClient) -> None:
    response = client.get(
        "/webhooks/twilio?bodySHA256=%C3%A9", headers={"X-Twilio-Signature": "x"}
    )

    assert response.status_code == 401


def deeply_nested(levels: int) -> object:
    value: object = "deep"
    for _ in range(levels):
        value = {"a": [value]}
    return value


@pytest.mark.parametrize(
    ("vendor", "changes", "message"),
    [
        ("voicenter", {"time": 10**400}, "time: Expected Unix seconds between"),
        ("voicenter", {"aiData": deeply_nested(20)}, "more than 32 levels deep"),
        (
            "voicenter",
            {"aiData": '{"insights": {"summary": "\\ud800"}}'},
            "aiData: Expected JSON text, got one that holds a lone UTF-16 surrogate",
        ),
        ("aircall", {"started_at": 10**400}, "data.started_at: Expected Unix"),
        (
            "aircall",
            {"comments": [{"content": "x", "posted_at": 10**400}]},
            "data.comments.0.posted_at: Expected Unix",
        ),
    ],
)
def test_values_that_overflow_later_are_400_now(
    client: FlaskClient,
    sqlite_engine: Engine,
    vendor: str,
    changes: dict[str, object],
    message: str,
) -> None:
    """Huge numbers, deep nesting and half characters inside a field used to
    pass intake and fail later, as a 500 or as a ticket that never builds."""
    if vendor == "voicenter":
        response = client.post(VOICENTER, json=voicenter_payload(**changes))
    else:
        payload = json.loads(read("aircall", "call_ended_missed.json"))
        payload["data"].update(changes)
        response = client.post("/webhooks/aircall", json=payload)

    assert response.status_code == 400, response.json
    assert message in response.json["error"]
    assert count_rows(sqlite_engine, events) == 0


def test_voicenter_form_json_text_with_a_surrogate_is_400(client: FlaskClient) -> None:
    ivr = '[{"layer_name": "Main\\ud83d", "Dtmf": 2}]'
    body = f"ivruniqueid=s1&type=Queue&status=ABANDONE&IVR={quote(ivr)}"

    response = client.post(VOICENTER, data=body, content_type=FORM)

    assert response.status_code == 400
    assert "IVR: Expected JSON text" in response.json["error"]


def test_twilio_timestamp_out_of_any_calendar_is_left_out(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    body = read("twilio", "status_no_answer.form").replace(
        b"2025", b"99999999999999999999"
    )

    response = signed_twilio(client, body)

    assert response.status_code == 202
    assert rows(sqlite_engine, events)[0].event["ended_at"] is None


class _BrokenChunks(io.BytesIO):
    """A server's input stream for a chunked body with a bad chunk header."""

    def read(self, size: int | None = -1) -> bytes:
        raise OSError("Invalid chunk header")


def test_broken_chunked_body_is_400(client: FlaskClient) -> None:
    response = client.post(
        VOICENTER,
        input_stream=_BrokenChunks(b"{}"),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_base={"wsgi.input_terminated": True},
    )

    assert response.status_code == 400
    assert "chunked framing is broken" in response.json["error"]
