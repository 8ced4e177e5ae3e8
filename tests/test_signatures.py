"""Each vendor's proof of origin: accepted when right, 401 and nothing stored
when missing, forged or wrong."""

from __future__ import annotations

import hashlib
import json

import pytest
from flask.testing import FlaskClient
from helpers import (
    FORM,
    TWILIO_TOKEN,
    count_rows,
    make_settings,
    post_aircall,
    post_twilio,
    post_voicenter,
    read,
)
from sqlalchemy.engine import Engine

from gateway.app import create_app
from gateway.db import events
from gateway.signatures import twilio_signature


def test_twilio_signed_request_is_accepted(client: FlaskClient) -> None:
    response = post_twilio(client, "status_no_answer.form")

    assert response.status_code == 202
    assert response.json["status"] == "accepted"


@pytest.mark.parametrize(
    "signature",
    ["", "not-base64", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", None],
    ids=["empty", "garbage", "forged", "missing"],
)
def test_twilio_bad_signature_is_refused_and_not_stored(
    client: FlaskClient, sqlite_engine: Engine, signature: str | None
) -> None:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}

    response = client.post(
        "/webhooks/twilio",
        data=read("twilio", "status_no_answer.form"),
        content_type=FORM,
        headers=headers,
    )

    assert response.status_code == 401
    assert "X-Twilio-Signature" in response.json["error"]
    assert count_rows(sqlite_engine, events) == 0


def test_twilio_signature_with_wrong_token_is_refused(
    client: FlaskClient, sqlite_engine: Engine
) -> None:
    response = post_twilio(client, "status_no_answer.form", token="someone-else")

    assert response.status_code == 401
    assert count_rows(sqlite_engine, events) == 0


def test_twilio_tampered_body_is_refused(client: FlaskClient) -> None:
    body = read("twilio", "status_no_answer.form")
    signature = twilio_signature(
        TWILIO_TOKEN, "http://localhost/webhooks/twilio", []
    )  # signs no fields at all

    response = client.post(
        "/webhooks/twilio",
        data=body.replace(b"no-answer", b"completed"),
        content_type=FORM,
        headers={"X-Twilio-Signature": signature},
    )

    assert response.status_code == 401


def test_twilio_verifies_behind_tls_proxy_from_forwarded_headers(
    client: FlaskClient,
) -> None:
    """Heroku's router keeps the Host header and adds X-Forwarded-Proto."""
    response = post_twilio(
        client,
        "status_no_answer.form",
        signed_url="https://gw.example.com/webhooks/twilio",
        headers={"X-Forwarded-Proto": "https", "Host": "gw.example.com"},
    )

    assert response.status_code == 202


def test_twilio_forwarded_host_is_trusted_only_when_asked(
    sqlite_engine: Engine,
) -> None:
    """A forwarded host the client made up must not choose the signed URL."""
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example.com"}
    signed_url = "https://gw.example.com/webhooks/twilio"
    results = []
    for trusted in (False, True):
        settings = make_settings(trust_forwarded_host=trusted)
        client = create_app(settings, sqlite_engine).test_client()
        response = post_twilio(
            client, "status_no_answer.form", signed_url=signed_url, headers=headers
        )
        results.append(response.status_code)

    assert results == [401, 202]


def test_twilio_with_public_url_ignores_the_host_a_request_names(
    sqlite_engine: Engine,
) -> None:
    settings = make_settings(
        public_url="https://hooks.example.com", trust_forwarded_host=True
    )
    client = create_app(settings, sqlite_engine).test_client()

    response = post_twilio(
        client,
        "status_no_answer.form",
        signed_url="http://other-app.example.net/webhooks/twilio",
        headers={"Host": "other-app.example.net"},
    )

    assert response.status_code == 401


def test_twilio_behind_proxy_without_forwarded_headers_is_refused(
    client: FlaskClient,
) -> None:
    response = post_twilio(
        client,
        "status_no_answer.form",
        signed_url="https://gw.example.com/webhooks/twilio",
    )

    assert response.status_code == 401


def test_twilio_verifies_against_public_url(sqlite_engine: Engine) -> None:
    settings = make_settings(public_url="https://hooks.example.com", proxy_hops=0)
    client = create_app(settings, sqlite_engine, mount_sandbox=False).test_client()

    response = post_twilio(
        client,
        "status_no_answer.form",
        path="/webhooks/twilio?tenant=7",
        signed_url="https://hooks.example.com/webhooks/twilio?tenant=7",
    )

    assert response.status_code == 202


def test_twilio_url_with_default_port_also_verifies(client: FlaskClient) -> None:
    response = post_twilio(
        client,
        "status_no_answer.form",
        signed_url="https://gw.example.com:443/webhooks/twilio",
        headers={"X-Forwarded-Proto": "https", "Host": "gw.example.com"},
    )

    assert response.status_code == 202


def test_twilio_get_callback_signs_the_query(client: FlaskClient) -> None:
    query = read("twilio", "status_no_answer.form").decode()
    url = f"http://localhost/webhooks/twilio?{query}"
    signature = twilio_signature(TWILIO_TOKEN, url)

    response = client.get(
        f"/webhooks/twilio?{query}", headers={"X-Twilio-Signature": signature}
    )

    assert response.status_code == 202


def test_twilio_json_body_checks_body_sha256(client: FlaskClient) -> None:
    body = json.dumps(
        {"CallSid": "CA" + "0" * 31 + "1", "CallStatus": "no-answer"}
    ).encode()
    digest = hashlib.sha256(body).hexdigest()
    path = f"/webhooks/twilio?bodySHA256={digest}"
    signature = twilio_signature(TWILIO_TOKEN, f"http://localhost{path}")

    good = client.post(
        path,
        data=body,
        content_type="application/json",
        headers={"X-Twilio-Signature": signature},
    )
    changed = client.post(
        path,
        data=body.replace(b"no-answer", b"busy"),
        content_type="application/json",
        headers={"X-Twilio-Signature": signature},
    )

    assert good.status_code == 202
    assert changed.status_code == 401
    assert "bodySHA256" in changed.json["error"]


def test_twilio_token_rotation_accepts_old_and_new(sqlite_engine: Engine) -> None:
    settings = make_settings(secrets={"twilio": ("new-token", TWILIO_TOKEN)})
    client = create_app(settings, sqlite_engine, mount_sandbox=False).test_client()

    assert post_twilio(client, "status_busy.form").status_code == 202
    assert (
        post_twilio(client, "status_canceled.form", token="new-token").status_code
        == 202
    )


def test_aircall_token_in_body_is_accepted(client: FlaskClient) -> None:
    assert post_aircall(client, "call_ended_missed.json").status_code == 202


@pytest.mark.parametrize("token", ["wrong", "", None, 12345])
def test_aircall_bad_token_is_refused_and_not_stored(
    client: FlaskClient, sqlite_engine: Engine, token: object
) -> None:
    payload = json.loads(read("aircall", "call_ended_missed.json"))
    if token is None:
        del payload["token"]
    else:
        payload["token"] = token

    response = client.post("/webhooks/aircall", json=payload)

    assert response.status_code == 401
    assert count_rows(sqlite_engine, events) == 0


def test_voicenter_token_in_path_is_accepted(client: FlaskClient) -> None:
    response = post_voicenter(client, "queue_abandoned.json")

    assert response.status_code == 200
    assert response.json["Err"] == 0
    assert response.json["Errdesc"] == "OK"


def test_voicenter_token_in_query_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        "/webhooks/voicenter?token=test-voicenter-url-token",
        data=read("voicenter", "queue_abandoned.json"),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json["Err"] == 0


@pytest.mark.parametrize(
    "path",
    ["/webhooks/voicenter/wrong", "/webhooks/voicenter", "/webhooks/voicenter?token="],
)
def test_voicenter_bad_token_is_refused_and_not_stored(
    client: FlaskClient, sqlite_engine: Engine, path: str
) -> None:
    response = client.post(
        path,
        data=read("voicenter", "queue_abandoned.json"),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert response.json["Err"] != 0
    assert count_rows(sqlite_engine, events) == 0


@pytest.mark.parametrize("vendor", ["twilio", "aircall", "voicenter"])
def test_vendor_without_secret_is_refused(sqlite_engine: Engine, vendor: str) -> None:
    settings = make_settings(secrets={})
    client = create_app(settings, sqlite_engine, mount_sandbox=False).test_client()

    response = client.post(f"/webhooks/{vendor}", json={"token": "x"})

    assert response.status_code == 401
    assert "no secret is configured" in response.json["error"]
    assert f"ALLOW_UNSIGNED={vendor}" in response.json["error"]


def test_allow_unsigned_opens_only_the_named_vendor(sqlite_engine: Engine) -> None:
    settings = make_settings(secrets={}, allow_unsigned=frozenset({"voicenter"}))
    client = create_app(settings, sqlite_engine, mount_sandbox=False).test_client()

    opened = client.post(
        "/webhooks/voicenter",
        data=read("voicenter", "queue_abandoned.json"),
        content_type="application/json",
    )
    closed = post_aircall(client, "call_ended_missed.json")

    assert opened.status_code == 200
    assert closed.status_code == 401


def test_configured_secret_is_checked_even_when_unsigned_allowed(
    sqlite_engine: Engine,
) -> None:
    settings = make_settings(allow_unsigned=frozenset({"voicenter"}))
    client = create_app(settings, sqlite_engine, mount_sandbox=False).test_client()

    response = post_voicenter(client, "queue_abandoned.json", token="wrong")

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("public_url", "mount_sandbox", "warned"),
    [("", False, True), ("https://gw.example.com", False, False), ("", True, False)],
)
def test_startup_warns_when_twilio_urls_come_from_requests(
    sqlite_engine: Engine,
    caplog: pytest.LogCaptureFixture,
    public_url: str,
    mount_sandbox: bool,
    warned: bool,
) -> None:
    """Only a deployment needs PUBLIC_URL; trying it out on one's own machine
    does not."""
    settings = make_settings(public_url=public_url)

    create_app(settings, sqlite_engine, mount_sandbox=mount_sandbox)

    assert ("set PUBLIC_URL so that" in caplog.text) is warned
