"""The engine's limits on waiting for the database."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import POSTGRES_URL
from helpers import listen, make_settings, post_aircall
from sqlalchemy.exc import OperationalError

from gateway import migrate
from gateway.app import create_app
from gateway.db import make_engine


def test_webhook_waiting_on_a_locked_sqlite_is_answered_503_in_time(
    tmp_path: Path,
) -> None:
    """A vendor that gives up first would retry anyway, without an answer."""
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}", wait_seconds=0.5)
    migrate.upgrade(engine)
    client = create_app(make_settings(), engine).test_client()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()

    try:
        response = post_aircall(client, "call_ended_missed.json")
    finally:
        holder.close()

    assert response.status_code == 503
    assert time.monotonic() - started < 3


def test_postgres_statement_that_hangs_is_cut() -> None:
    engine = make_engine(POSTGRES_URL, wait_seconds=0.5)

    with (
        pytest.raises(OperationalError, match="statement timeout"),
        engine.connect() as conn,
    ):
        conn.execute(sa.text("SELECT pg_sleep(3)"))
    engine.dispose()


def test_migrations_run_without_the_statement_limit() -> None:
    engine = make_engine(POSTGRES_URL, wait_seconds=None)

    with engine.connect() as conn:
        limit = conn.execute(sa.text("SHOW statement_timeout")).scalar()

    assert limit == "0"
    engine.dispose()


class FreezableProxy:
    """A TCP forwarder to PostgreSQL that can stop forwarding while keeping
    its connections open, as a hung pgbouncer does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.forwarding = threading.Event()
        self.forwarding.set()
        self.listener = listen(self._forward)
        self.port = self.listener.getsockname()[1]

    def _forward(self, client: socket.socket) -> None:
        server = socket.create_connection(self.target)
        threading.Thread(target=self._pump, args=(server, client), daemon=True).start()
        self._pump(client, server)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self.forwarding.wait()
                sink.sendall(data)


def test_postgres_connection_stalled_in_the_network_is_cut() -> None:
    """statement_timeout and keepalives never fire while a middlebox keeps
    acknowledging; the request would hang for as long as it stalls."""
    target = sa.make_url(POSTGRES_URL)
    proxy = FreezableProxy((target.host or "127.0.0.1", target.port or 5432))
    url = target.set(host="127.0.0.1", port=proxy.port)
    engine = make_engine(url.render_as_string(hide_password=False), 0.5)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    proxy.forwarding.clear()
    started = time.monotonic()

    with (
        pytest.raises(sa.exc.TimeoutError, match=r"did not answer within 0\.5 s"),
        engine.connect() as conn,
    ):
        conn.execute(sa.text("SELECT 1"))

    assert time.monotonic() - started < 2
    proxy.forwarding.set()
    proxy.listener.close()
    engine.dispose()
