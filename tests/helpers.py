"""Posting fixture webhooks the way each vendor sends them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gateway.signatures import twilio_signature

FIXTURES = Path(__file__).parent / "fixtures"
TWILIO_TOKEN = "test-twilio-auth-token"
VOICENTER_TOKEN = "test-voicenter-url-token"
FORM = "application/x-www-form-urlencoded"


def read(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


def post_twilio(
    client: FlaskClient,
    name: str,
    path: str = "/webhooks/twilio",
    token: str = TWILIO_TOKEN,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> TestResponse:
    body = read("twilio", name)
    url = signed_url or f"http://localhost{path}"
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    signature = twilio_signature(token, url, pairs)
    return client.post(
        path,
        data=body,
        content_type=FORM,
        headers={"X-Twilio-Signature": signature, **(headers or {})},
    )


def post_aircall(client: FlaskClient, name: str) -> TestResponse:
    return client.post(
        "/webhooks/aircall",
        data=read("aircall", name),
        content_type="application/json",
    )


def post_voicenter(
    client: FlaskClient, name: str, token: str = VOICENTER_TOKEN
) -> TestResponse:
    content_type = "application/json" if name.endswith(".json") else FORM
    return client.post(
        f"/webhooks/voicenter/{token}",
        data=read("voicenter", name),
        content_type=content_type,
    )


def post_fixture(client: FlaskClient, vendor: str, name: str) -> TestResponse:
    if vendor == "twilio":
        return post_twilio(client, name)
    if vendor == "aircall":
        return post_aircall(client, name)
    return post_voicenter(client, name)
