"""A time limit on a whole HTTP exchange, not on each wait within it.

``requests`` applies its timeout to every single read from the socket, so a
server that trickles its answer a byte at a time never trips it and holds
the worker, and the ticket's lease, for as long as it likes. Here a timer
shuts the exchange's socket down once the whole exchange has taken too long:
the blocked read fails at once, and ``requests`` raises as it does for a
dropped connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection

_current = threading.local()


class Deadline:
    """The limit on one exchange, and the connections it has used."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.append(connection)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Limit the HTTP exchanges this thread makes inside the block to
    ``seconds`` in all; :attr:`Deadline.expired` tells whether it cut one."""
    limit = Deadline(seconds)
    timer = threading.Timer(seconds, limit.expire)
    timer.daemon = True
    _current.deadline = limit
    timer.start()
    try:
        yield limit
    finally:
        timer.cancel()
        _current.deadline = None


class DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections obey :func:`deadline`; mount it on a
    session for ``http://`` and ``https://``."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_watched_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        _use_watched_pools(manager)
        return manager


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    # The plain socket's shutdown, also under TLS: SSLSocket's own would
    # drop its TLS state under the feet of the thread reading from it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(connection: HTTPConnection) -> None:
    limit: Deadline | None = getattr(_current, "deadline", None)
    if limit is not None:
        limit.watch(connection)


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _use_watched_pools(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = {
        "http": _WatchedHTTPPool,
        "https": _WatchedHTTPSPool,
    }
