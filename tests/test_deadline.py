"""The limit on a whole exchange with the tickets API, against a server that
answers one byte at a time."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from conftest import Sandbox
from helpers import listen

from gateway.errors import UnansweredDelivery
from gateway.tickets_api import TicketsApi

ANSWER = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b'Content-Length: 12\r\n\r\n{"id": "77"}'
)


class TricklingServer:
    """Reads a request, then sends its answer a byte every ``pause`` s."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.listener = listen(self._answer)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                for byte in ANSWER:
                    conn.sendall(bytes([byte]))
                    time.sleep(self.pause)
            except OSError:
                return


@pytest.fixture
def trickling() -> Iterator[TricklingServer]:
    server = TricklingServer(pause=0.05)
    yield server
    server.listener.close()


def api_for(url: str, timeout: float) -> TicketsApi:
    api = TicketsApi(url, f"{url}/oauth/token", "ringdesk", "secret", timeout)
    api._session.token = {"access_token": "t", "token_type": "Bearer"}
    return api


def test_answer_trickling_past_the_deadline_is_cut(trickling: TricklingServer) -> None:
    """Each byte comes well within the timeout, the whole answer does not."""
    api = api_for(trickling.url, timeout=0.5)
    started = time.monotonic()

    with pytest.raises(UnansweredDelivery, match=r"no whole answer within 0\.5 s"):
        api.create({"subject": "s", "status": "1"})

    assert time.monotonic() - started < 2.0


def test_answer_within_the_deadline_is_read_whole(trickling: TricklingServer) -> None:
    trickling.pause = 0.001
    api = api_for(trickling.url, timeout=5.0)

    ticket_id, response = api.create({"subject": "s", "status": "1"})

    assert (ticket_id, response.status_code) == ("77", 201)


def test_connection_is_reused_after_a_deadline_passed_unused(
    sandbox: Sandbox,
) -> None:
    """A deadline that ends with its exchange leaves the pooled connection
    alone for the next one."""
    api = TicketsApi(
        sandbox.url, f"{sandbox.url}/oauth/token", "ringdesk", "sandbox-secret", 0.3
    )

    for _ in range(3):
        api.create({"subject": "s", "status": "1"})
        time.sleep(0.4)

    assert len(sandbox.tickets) == 3
