"""Posting fixture webhooks the way each vendor sends them."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

from gateway.config import SANDBOX_STATUS_ID, Settings
from gateway.signatures import twilio_signature
from mappings.routing import Route

FIXTURES = Path(__file__).parent / "fixtures"
TWILIO_TOKEN = "test-twilio-auth-token"
AIRCALL_TOKEN = "fake-webhook-token-0001"
VOICENTER_TOKEN = "test-voicenter-url-token"
SANDBOX_ID = "ringdesk"
SANDBOX_SECRET = "sandbox-secret"
FORM = "application/x-www-form-urlencoded"


def make_settings(**changes: Any) -> Settings:
    """Settings for tests: every vendor signed, no settle wait, fast retries."""
    base = Settings(
        database_url="sqlite://",
        secrets={
            "twilio": (TWILIO_TOKEN,),
            "aircall": (AIRCALL_TOKEN,),
            "voicenter": (VOICENTER_TOKEN,),
        },
        default_route=Route(status=SANDBOX_STATUS_ID),
        settle_seconds={"twilio": 0.0, "aircall": 0.0, "voicenter": 0.0},
        oauth_client_id=SANDBOX_ID,
        oauth_client_secret=SANDBOX_SECRET,
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        retry_max_attempts=5,
        http_timeout=5.0,
        poll_seconds=0.05,
    )
    return dataclasses.replace(base, **changes)


def count_rows(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())


def rows(engine: Engine, table: sa.Table) -> list[sa.Row[tuple[object, ...]]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)).all())


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


def listen(handle: Callable[[socket.socket], None]) -> socket.socket:
    """A local TCP listener that hands each connection to ``handle`` on a
    thread of its own; close the listener to stop it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener
