"""The engine's limits on waiting for the database."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import POSTGRES_URL
from helpers import make_settings, post_aircall
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
