"""Tables and the database engine, for SQLite and PostgreSQL alike.

Three tables carry an event's life: ``events`` (every accepted webhook,
unique per vendor event id), ``tickets`` (one per call that deserves one,
with its delivery state) and ``attempts`` (every try to send a ticket).
``tickets.attempts`` counts the tries since the ticket was last queued, so a
replayed ticket gets a fresh retry budget; ``attempts.number`` counts them all.
``tickets.unanswered`` counts the tries since then that went out but got no
answer, each of which may have created the ticket in the CRM.
The schema itself is created by the Alembic migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine

from gateway.dbwatch import watch_connections

metadata = sa.MetaData()


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    SQLite has no time zones; storing naive UTC there and converting at the
    edge keeps comparisons such as ``due_at <= now`` right on both backends.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"Expected an aware datetime, got {value!r}.")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("vendor", sa.String(32), nullable=False),
    sa.Column("event_id", sa.String(512), nullable=False),
    sa.Column("call_id", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("event", sa.JSON, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False, server_default=""),
    sa.Column("signature", sa.String(255), nullable=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("vendor", "event_id", name="uq_events_vendor_event_id"),
    sa.UniqueConstraint("vendor", "signature", name="uq_events_vendor_signature"),
    sa.Index("ix_events_vendor_call_id", "vendor", "call_id"),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("vendor", sa.String(32), nullable=False),
    sa.Column("call_id", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(255), nullable=True),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unanswered", sa.Integer, nullable=False, server_default="0"),
    sa.Column("payload", sa.JSON, nullable=True),
    sa.Column("remote_id", sa.String(255), nullable=True),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("vendor", "call_id", name="uq_tickets_vendor_call_id"),
    sa.Index("ix_tickets_state_due_at", "state", "due_at"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("response", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_attempts_ticket_id", "ticket_id"),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def db_now(conn: sa.Connection) -> datetime:
    """The time by the database's clock, which every process shares.

    Leases, settle windows and retry times are compared across workers on
    several hosts; one whose clock ran ahead would take over tickets that
    are still being sent. SQLite lives on one host, whose clock it is.
    """
    if conn.dialect.name != "postgresql":
        return utcnow()
    moment: datetime = conn.execute(sa.select(sa.func.now())).scalar_one()
    return moment.astimezone(UTC)


DB_WAIT_SECONDS = 10.0


def make_engine(url: str, wait_seconds: float | None = DB_WAIT_SECONDS) -> Engine:
    """Create the engine, with SQLite set up for a web app and a worker.

    Statement parameters are kept out of error messages: they hold the raw
    webhook bodies, with phones and e-mails, and errors end up in logs.

    No wait on the database lasts longer than ``wait_seconds``: not a lock,
    a connection, or (on PostgreSQL) a statement. A webhook that cannot be
    stored by then is answered 503 while the vendor still listens (Twilio
    gives up after 15 s), and the vendor sends it again. ``None`` lifts the
    limit on statements, for migrations.

    SQLite runs in WAL mode so readers never block the writer, with full
    sync so a 2xx is only sent for an event that survives a power cut, and
    every transaction starts ``IMMEDIATE`` so two processes never deadlock
    upgrading a read lock to a write lock.
    """
    wait = wait_seconds or DB_WAIT_SECONDS
    if not url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            pool_pre_ping=wait_seconds is None,
            pool_timeout=wait,
            hide_parameters=True,
            connect_args=_postgres_connect_args(wait),
        )
        if wait_seconds is not None:
            # The server's own limit comes first, as it keeps the connection;
            # the watch is for a network that stalls and a server never heard.
            limit = int(wait_seconds * 800)
            sa.event.listen(engine, "connect", _statement_timeout(limit))
            watch_connections(engine, wait_seconds)
        return engine

    engine = sa.create_engine(url, connect_args={"timeout": wait}, hide_parameters=True)
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _postgres_connect_args(wait: float) -> dict[str, Any]:
    """libpq's limits on connecting and on a peer gone silent: a database
    host that vanishes is noticed in about ``wait`` seconds, not minutes."""
    return {
        "connect_timeout": max(2, int(wait)),
        "keepalives": 1,
        "keepalives_idle": max(1, int(wait / 2)),
        "keepalives_interval": max(1, int(wait / 4)),
        "keepalives_count": 2,
        "tcp_user_timeout": int(wait * 1000),
    }


def _statement_timeout(milliseconds: int) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {milliseconds}")
        cursor.close()
        dbapi_connection.commit()

    return apply


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
