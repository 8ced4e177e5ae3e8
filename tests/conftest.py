"""Shared fixtures: settings, databases (SQLite and PostgreSQL), the app,
and a real sandbox tickets API on a local port."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from helpers import SANDBOX_ID, SANDBOX_SECRET, make_settings
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

from gateway import migrate
from gateway.app import create_app
from gateway.config import Settings
from gateway.db import make_engine
from gateway.sandbox import create_sandbox_app

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


def _sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'ringdesk.db'}")
    migrate.upgrade(engine)
    return engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = _sqlite_engine(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A fresh schema in the local PostgreSQL, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """The store on each backend the gateway supports."""
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    result: Engine = request.getfixturevalue(name)
    return result


@pytest.fixture
def app(settings: Settings, sqlite_engine: Engine) -> Flask:
    return create_app(settings, sqlite_engine, mount_sandbox=False)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Sandbox:
    """A sandbox tickets API listening on a real local port."""

    def __init__(self, token_ttl: int = 3600) -> None:
        app = create_sandbox_app(SANDBOX_ID, SANDBOX_SECRET, token_ttl)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def tickets(self) -> list[dict[str, object]]:
        listing: list[dict[str, object]] = requests.get(
            f"{self.url}/_sandbox/tickets", timeout=5
        ).json()["tickets"]
        return listing

    def fail(self, status: int, count: int = 1, retry_after: str = "") -> None:
        spec = {"status": status, "count": count, "retry_after": retry_after}
        requests.post(f"{self.url}/_sandbox/faults", json=spec, timeout=5)

    def recover(self) -> None:
        requests.delete(f"{self.url}/_sandbox/faults", timeout=5)

    def revoke_tokens(self) -> None:
        requests.post(f"{self.url}/_sandbox/revoke", timeout=5)

    def stats(self) -> dict[str, int]:
        result: dict[str, int] = requests.get(
            f"{self.url}/_sandbox/stats", timeout=5
        ).json()
        return result


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    server = Sandbox()
    server.thread.start()
    yield server
    server.server.shutdown()


@pytest.fixture
def delivery_settings(sandbox: Sandbox) -> Settings:
    return make_settings(
        tickets_api_url=sandbox.url, oauth_token_url=f"{sandbox.url}/oauth/token"
    )
