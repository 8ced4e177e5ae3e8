"""A limit on each use of a PostgreSQL connection, also when the network stalls.

``statement_timeout`` is kept by the server, and TCP keepalives notice a
peer that is gone. Neither fires when something between the two stops
forwarding but keeps the connection open (a hung pgbouncer, a stuck proxy):
its kernel acknowledges every packet, and the query waits forever, holding
a web thread or a worker. Here every checkout of a connection from the pool
starts a timer; if the connection is still out when it fires, its socket is
shut, the blocked query fails at once, and SQLAlchemy throws the connection
away. The checkout's own liveness check runs under the same timer, in place
of ``pool_pre_ping``, whose check runs before any event could start one; a
check the timer cut fails the checkout rather than open a new connection,
which would wait out its own connect timeout on the same stalled path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

logger = logging.getLogger(__name__)

_TIMER = "ringdesk.stall_timer"
_STALLED = "ringdesk.stalled"


def watch_connections(engine: Engine, seconds: float) -> None:
    """Shut any connection of ``engine`` kept out of its pool for longer than
    ``seconds``, and check each one as it is taken out."""

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        timer = threading.Timer(seconds, _shut, args=(dbapi_connection, record))
        timer.daemon = True
        record.info[_TIMER] = timer
        timer.start()
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:
            _stop(record)
            if record.info.pop(_STALLED, False):
                raise sa.exc.TimeoutError(
                    f"The database did not answer within {seconds:g} s."
                ) from exc
            raise DisconnectionError("the pooled connection did not answer") from exc

    def checkin(dbapi_connection: Any, record: Any) -> None:
        _stop(record)

    sa.event.listen(engine.pool, "checkout", checkout)
    sa.event.listen(engine.pool, "checkin", checkin)
    sa.event.listen(engine.pool, "invalidate", lambda conn, rec, exc: _stop(rec))


def _stop(record: Any) -> None:
    timer = record.info.pop(_TIMER, None)
    if timer is not None:
        timer.cancel()


def _shut(dbapi_connection: Any, record: Any) -> None:
    record.info[_STALLED] = True
    with contextlib.suppress(Exception):
        fd = dbapi_connection.pgconn.socket
        logger.warning("a database connection stalled; shutting it")
        # shutdown() acts on the socket, not on one descriptor of it, so a
        # copy of the descriptor reaches the socket libpq is waiting on.
        with socket.socket(fileno=os.dup(fd)) as stalled:
            stalled.shutdown(socket.SHUT_RDWR)
