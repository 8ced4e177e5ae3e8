"""End to end: the gateway under gunicorn, the delivery worker and the sandbox
tickets API run as real processes and talk over real local sockets.

These tests catch what in-process tests cannot: two gunicorn workers sharing
one SQLite file, a worker in another process, signatures checked against the
URL gunicorn really saw, and a worker killed with SIGKILL mid-delivery.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import gunicorn
import pytest
import requests
from helpers import AIRCALL_TOKEN, FIXTURES, FORM, TWILIO_TOKEN, VOICENTER_TOKEN

from gateway.config import SANDBOX_STATUS_ID as STATUS_ID
from gateway.signatures import twilio_signature

T = TypeVar("T")

BIN = Path(sys.executable).parent
PROCFILE = Path(__file__).parent.parent / "Procfile"
TICKET_ID = re.compile(r"\d{39}")
SOURCE_LINE = re.compile(r"^Source: (\w+), call (\S+)$", re.MULTILINE)
RECORDINGS = (
    "https://api.twilio.com/2010-04-01/Accounts/"
    "AC00000000000000000000000000000001/Recordings"
)

_SETTINGS_PREFIXES = ("TICKET_", "SETTLE_SECONDS_", "RETRY_", "OAUTH_")
_SETTINGS_NAMES = {
    "ALLOW_UNSIGNED",
    "AIRCALL_WEBHOOK_TOKEN",
    "DATABASE_URL",
    "DEFAULT_REGION",
    "GUNICORN_CMD_ARGS",
    "HOST",
    "HTTP_TIMEOUT_SECONDS",
    "LEASE_SECONDS",
    "MAX_BODY_BYTES",
    "PHONE_FORMAT",
    "PORT",
    "PROXY_HOPS",
    "PUBLIC_URL",
    "ROUTING_RULES",
    "TIMEZONE",
    "TWILIO_AUTH_TOKEN",
    "VOICENTER_URL_TOKEN",
    "WEB_CONCURRENCY",
    "WORKER_POLL_SECONDS",
}
# gunicorn 27 opens a control socket at one fixed path in $HOME, which the
# stacks running side by side here would fight over.
GUNICORN_ISOLATED = ("--no-control-socket",) if gunicorn.version_info >= (27,) else ()
_serials = itertools.count(1)


def procfile(kind: str) -> list[str]:
    """The command the Procfile gives for ``kind``, as a PaaS would run it."""
    for line in PROCFILE.read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == kind:
            return ["sh", "-c", f"exec {command.strip()}"]
    raise AssertionError(f"the Procfile has no {kind!r} process")


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on, all held at once so that none repeats."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def read(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


def serial() -> int:
    """A number no other call in this test run uses."""
    return next(_serials)


def twilio_call(name: str, number: int) -> bytes:
    """A Twilio fixture moved to a call of its own: its CallSid, RecordingSid
    and TranscriptionSid (also inside the URLs) all get ``number``."""
    body = read("twilio", name).decode()
    for prefix in ("CA", "RE", "TR"):
        body = re.sub(rf"{prefix}[0-9a-f]{{32}}", f"{prefix}{number:032x}", body)
    return body.encode()


def aircall_call(name: str, number: int) -> bytes:
    data = json.loads(read("aircall", name))
    data["data"]["id"] = number
    return json.dumps(data, ensure_ascii=False).encode()


def fake_phone(number: int) -> str:
    return f"05000{number:05d}"


def voicenter_call(number: int) -> bytes:
    """The abandoned-queue CDR as a different call from a different caller."""
    data = json.loads(read("voicenter", "queue_abandoned.json"))
    data["ivruniqueid"] = f"e2e{number:08d}Q"
    data["caller"] = data["callerPhone"] = fake_phone(number)
    return json.dumps(data, ensure_ascii=False).encode()


def call_of(entry: dict[str, Any]) -> tuple[str, str]:
    """The (vendor, call id) a sandbox ticket was made for, from its msg."""
    match = SOURCE_LINE.search(entry["ticket"]["msg"])
    assert match, f"no Source line in {entry['ticket']['msg']!r}"
    return match[1], match[2]


class Process:
    """One child process, its output kept in a log file for failure reports."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path):
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.alive():
            self.popen.send_signal(signum)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        self._log.close()

    def tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} (exit {self.popen.poll()}) ---\n" + "\n".join(text)


class Stack:
    """A sandbox tickets API, the gateway under gunicorn and delivery workers,
    all on free local ports, sharing one SQLite file under ``root``."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.db_path = root / "e2e.db"
        sandbox_port, gateway_port = free_ports(2)
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        self.env = self._environment(env)
        self.processes: list[Process] = []
        self.expected_dead: set[str] = set()

    def _environment(self, overrides: dict[str, str]) -> dict[str, str]:
        """The caller's environment without any gateway setting, then ours.

        Settings a stray ``.env`` could carry and that change what is
        asserted (PUBLIC_URL breaks Twilio signatures, the region changes
        phone formats) are pinned explicitly: environment wins over ``.env``.
        """
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in _SETTINGS_NAMES and not name.startswith(_SETTINGS_PREFIXES)
        }
        env.update(
            DATABASE_URL=f"sqlite:///{self.db_path}",
            TICKETS_API_URL=self.sandbox_url,
            OAUTH_TOKEN_URL=f"{self.sandbox_url}/oauth/token",
            OAUTH_CLIENT_ID="ringdesk",
            OAUTH_CLIENT_SECRET="sandbox-secret",
            TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            AIRCALL_WEBHOOK_TOKEN=AIRCALL_TOKEN,
            VOICENTER_URL_TOKEN=VOICENTER_TOKEN,
            TICKET_STATUS_ID=STATUS_ID,
            SETTLE_SECONDS_TWILIO="1",
            SETTLE_SECONDS_AIRCALL="0",
            SETTLE_SECONDS_VOICENTER="0",
            RETRY_BASE_SECONDS="0.2",
            RETRY_MAX_SECONDS="1",
            WORKER_POLL_SECONDS="0.1",
            LEASE_SECONDS="3",
            HTTP_TIMEOUT_SECONDS="0.9",
            PUBLIC_URL="",
            ALLOW_UNSIGNED="",
            ROUTING_RULES="",
            DEFAULT_REGION="IL",
            PHONE_FORMAT="national",
            TIMEZONE="Asia/Jerusalem",
            PORT=self.gateway_url.rsplit(":", 1)[1],
            WEB_CONCURRENCY="2",
            GUNICORN_CMD_ARGS=" ".join(("--graceful-timeout 5", *GUNICORN_ISOLATED)),
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        env.update(overrides)
        return env

    def _spawn(self, name: str, *args: str) -> Process:
        process = Process(name, list(args), self.env, self.root)
        self.processes.append(process)
        return process

    def start(self, worker: bool = True) -> Stack:
        sandbox_port = self.sandbox_url.rsplit(":", 1)[1]
        self._spawn("sandbox", str(BIN / "ringdesk"), "sandbox", "--port", sandbox_port)
        subprocess.run(
            procfile("release"),
            env=self.env,
            cwd=self.root,
            check=True,
            capture_output=True,
            timeout=60,
        )
        self._spawn("gateway", *procfile("web"))
        self.wait_until(lambda: self._answers("/healthz"), 30, "the gateway is up")
        self.wait_until(
            lambda: self._answers("/_sandbox/tickets", self.sandbox_url),
            30,
            "the sandbox is up",
        )
        if worker:
            self.start_worker()
        return self

    def _answers(self, path: str, base: str = "") -> bool:
        try:
            response = requests.get((base or self.gateway_url) + path, timeout=2)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def start_worker(self) -> Process:
        number = sum(p.name.startswith("worker") for p in self.processes) + 1
        return self._spawn(f"worker-{number}", *procfile("worker"))

    def kill(self, process: Process) -> None:
        """SIGKILL, as the OOM killer or a lost machine would."""
        self.expected_dead.add(process.name)
        process.stop(signal.SIGKILL)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(process.tail() for process in self.processes)

    def wait_until(
        self, check: Callable[[], T], timeout: float, what: str, every: float = 0.05
    ) -> T:
        """Poll ``check`` until it returns something truthy; fail with the
        processes' logs if it does not within ``timeout`` or one of them
        died."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            crashed = [
                p.name
                for p in self.processes
                if not p.alive() and p.name not in self.expected_dead
            ]
            if crashed or time.monotonic() > deadline:
                reason = f"{crashed} exited" if crashed else f"{timeout} s passed"
                pytest.fail(f"waited for {what}, but {reason}\n{self.logs()}")
            time.sleep(every)

    def sandbox(self, method: str, path: str, **spec: Any) -> Any:
        response = requests.request(
            method, f"{self.sandbox_url}{path}", json=spec or None, timeout=5
        )
        response.raise_for_status()
        return response.json()

    def tickets(self) -> list[dict[str, Any]]:
        listing: dict[str, Any] = self.sandbox("GET", "/_sandbox/tickets")
        tickets: list[dict[str, Any]] = listing["tickets"]
        return tickets

    def tickets_of(self, vendor: str, call_id: str) -> list[dict[str, Any]]:
        return [t for t in self.tickets() if call_of(t) == (vendor, call_id)]

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as conn:
            return conn.execute(sql, params).fetchall()

    def ticket_row(self, vendor: str, call_id: str) -> tuple[str, str | None] | None:
        rows = self.query(
            "SELECT state, remote_id FROM tickets WHERE vendor = ? AND call_id = ?",
            vendor,
            call_id,
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def delivered(self, vendor: str, call_id: str, timeout: float = 15) -> str:
        """Wait until the gateway records the call's ticket as delivered;
        return the ticket id the API gave it."""

        def remote_id() -> str | None:
            row = self.ticket_row(vendor, call_id)
            return row[1] if row and row[0] == "delivered" else None

        return self.wait_until(
            remote_id, timeout, f"the ticket of {vendor} call {call_id} delivered"
        )

    def count(self, where: str) -> int:
        """How many ticket rows match the SQL condition ``where``."""
        return int(self.query(f"SELECT count(*) FROM tickets WHERE {where}")[0][0])

    def post_twilio(self, body: bytes) -> requests.Response:
        url = f"{self.gateway_url}/webhooks/twilio"
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
        headers = {
            "Content-Type": FORM,
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, pairs),
        }
        return requests.post(url, data=body, headers=headers, timeout=30)

    def post_aircall(self, body: bytes) -> requests.Response:
        return requests.post(
            f"{self.gateway_url}/webhooks/aircall",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )

    def post_voicenter(self, body: bytes, form: bool = False) -> requests.Response:
        return requests.post(
            f"{self.gateway_url}/webhooks/voicenter/{VOICENTER_TOKEN}",
            data=body,
            headers={"Content-Type": FORM if form else "application/json"},
            timeout=30,
        )

    def post(self, vendor: str, body: bytes, form: bool = False) -> requests.Response:
        if vendor == "twilio":
            return self.post_twilio(body)
        if vendor == "aircall":
            return self.post_aircall(body)
        return self.post_voicenter(body, form)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One set of processes shared by the tests that only add calls."""
    shared = Stack(tmp_path_factory.mktemp("e2e"), {})
    try:
        yield shared.start()
    finally:
        shared.stop()


@pytest.fixture
def new_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start a private set of processes, for tests that break or kill them."""
    started: list[Stack] = []

    def start(worker: bool = True, **env: str) -> Stack:
        private = Stack(tmp_path / f"stack-{len(started)}", env)
        started.append(private)
        return private.start(worker)

    yield start
    for private in started:
        private.stop()


def assert_acknowledged(vendor: str, response: requests.Response, status: str) -> None:
    """The answer each vendor needs: Voicenter always a 200 with Err 0."""
    body = response.json()
    assert body["status"] == status, body
    if vendor == "voicenter":
        assert response.status_code == 200
        assert (body["Err"], body["Errdesc"]) == (0, "OK")
    else:
        assert response.status_code == (202 if status == "accepted" else 200)


def assert_ticket_ids(stack: Stack, entries: list[dict[str, Any]]) -> None:
    """Ticket ids are 39-digit strings, kept as text end to end: a float or
    a JSON number on the way would have rounded them."""
    stored = {row[0] for row in stack.query("SELECT remote_id FROM tickets")}
    for entry in entries:
        assert isinstance(entry["id"], str)
        assert TICKET_ID.fullmatch(entry["id"])
        assert entry["id"] in stored


def stored_events(stack: Stack, vendor: str, call_id: str) -> int:
    rows = stack.query(
        "SELECT count(*) FROM events WHERE vendor = ? AND call_id = ?", vendor, call_id
    )
    return int(rows[0][0])


_COMMENTED = json.loads(read("aircall", "call_commented.json"))
HEBREW_COMMENT = _COMMENTED["data"]["comments"][0]["content"]
MISSED_AND_NOTED = [
    pytest.param(
        "twilio",
        "status_no_answer.form",
        "CA0000000000000000000000000000a001",
        "+15550100123",
        "Missed call from +1 555-010-0123",
        ["Missed reason: no one answered"],
        id="twilio-no-answer",
    ),
    pytest.param(
        "aircall",
        "call_ended_missed.json",
        "900000001",
        "+15550100123",
        "Missed call from +1 555-010-0123",
        ["Queue: Tier 1", "Missed reason: agents did not answer"],
        id="aircall-missed",
    ),
    pytest.param(
        "aircall",
        "call_commented.json",
        "900000003",
        "0500000145",
        "Call note: call with 050-000-0145",
        [HEBREW_COMMENT],
        id="aircall-comment-hebrew-emoji",
    ),
    pytest.param(
        "voicenter",
        "queue_abandoned.json",
        "2026010111000001abcQ",
        "0500001234",
        "Missed call from 050-000-1234",
        [
            "Queue: תמיכה טכנית",
            "Missed reason: caller hung up while waiting in the queue",
        ],
        id="voicenter-queue-abandoned",
    ),
    pytest.param(
        "voicenter",
        "queue_abandoned.form",
        "2026010111000007stuF",
        "0500001238",
        "Missed call from 050-000-1238",
        ["Queue: תמיכה טכנית"],
        id="voicenter-queue-abandoned-form",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("vendor", "name", "call_id", "phone", "subject", "notes"), MISSED_AND_NOTED
)
def test_webhook_makes_one_ticket_in_crm_form(
    stack: Stack,
    vendor: str,
    name: str,
    call_id: str,
    phone: str,
    subject: str,
    notes: list[str],
) -> None:
    """A real webhook becomes exactly one CRM ticket with the phone in the
    CRM's form, the notes intact (Hebrew and emoji byte for byte) and the
    configured 39-digit status id passed through untouched."""
    response = stack.post(vendor, read(vendor, name), form=name.endswith(".form"))
    assert_acknowledged(vendor, response, "accepted")

    remote_id = stack.delivered(vendor, call_id)
    found = stack.tickets_of(vendor, call_id)
    assert [entry["id"] for entry in found] == [remote_id]
    assert_ticket_ids(stack, found)
    ticket = found[0]["ticket"]
    assert ticket["phone"] == phone
    assert ticket["subject"] == subject
    assert ticket["status"] == STATUS_ID
    for note in notes:
        assert note in ticket["msg"]


@pytest.mark.slow
def test_voicemail_callbacks_in_any_order_make_one_ticket(stack: Stack) -> None:
    """Twilio's status, recording and transcription callbacks for one
    voicemail arrive in no fixed order; every order, each on a call of its
    own, must give one ticket with both the recording and the transcription."""
    names = [
        "voicemail_status.form",
        "voicemail_recording.form",
        "voicemail_transcription.form",
    ]
    calls = {}
    for order in itertools.permutations(names):
        number = serial()
        calls[f"CA{number:032x}"] = order
        outcomes = [stack.post_twilio(twilio_call(name, number)) for name in order]
        assert all(r.status_code in (200, 202) for r in outcomes), [
            r.text for r in outcomes
        ]

    transcription = "Hi, this is a test caller, my order number is 12345"
    for call_id, order in calls.items():
        stack.delivered("twilio", call_id)
        found = stack.tickets_of("twilio", call_id)
        assert len(found) == 1, order
        ticket = found[0]["ticket"]
        assert ticket["phone"] == "+15550100125", order
        assert ticket["subject"].startswith("Voicemail from +1 555-010-0125"), order
        assert transcription in ticket["msg"], order
        assert f"{RECORDINGS}/RE{call_id[2:]}" in ticket["msg"], order
        assert stored_events(stack, "twilio", call_id) == 3


def fresh_call(vendor: str) -> tuple[bytes, str]:
    """A missed call of ``vendor`` that no other test posts: body, call id."""
    number = serial()
    if vendor == "twilio":
        return twilio_call("status_no_answer.form", number), f"CA{number:032x}"
    if vendor == "aircall":
        return aircall_call("call_ended_missed.json", number), str(number)
    return voicenter_call(number), f"e2e{number:08d}Q"


@pytest.mark.slow
@pytest.mark.parametrize("vendor", ["twilio", "aircall", "voicenter"])
def test_webhook_sent_again_is_a_duplicate(stack: Stack, vendor: str) -> None:
    """Vendors resend on any doubt; a resend before or after delivery is
    acknowledged as a duplicate and never makes a second ticket."""
    body, call_id = fresh_call(vendor)
    assert_acknowledged(vendor, stack.post(vendor, body), "accepted")
    assert_acknowledged(vendor, stack.post(vendor, body), "duplicate")

    stack.delivered(vendor, call_id)
    assert_acknowledged(vendor, stack.post(vendor, body), "duplicate")
    assert stored_events(stack, vendor, call_id) == 1
    assert len(stack.tickets_of(vendor, call_id)) == 1


def post_at_once(
    send: Callable[[], requests.Response], copies: int
) -> list[requests.Response]:
    """Send ``copies`` requests released together by a barrier."""
    barrier = threading.Barrier(copies)

    def one() -> requests.Response:
        barrier.wait(timeout=10)
        return send()

    with ThreadPoolExecutor(copies) as pool:
        futures = [pool.submit(one) for _ in range(copies)]
        return [future.result(timeout=60) for future in futures]


@pytest.mark.slow
@pytest.mark.parametrize("vendor", ["twilio", "aircall", "voicenter"])
def test_webhook_sent_concurrently_is_stored_once(stack: Stack, vendor: str) -> None:
    """Eight copies at the same instant, spread over two gunicorn workers
    writing one SQLite file: one is accepted, the rest are duplicates, none
    is refused, and the call gets one stored event and one ticket."""
    body, call_id = fresh_call(vendor)
    responses = post_at_once(lambda: stack.post(vendor, body), copies=8)

    outcomes = Counter(response.json()["status"] for response in responses)
    assert outcomes == {"accepted": 1, "duplicate": 7}, [r.text for r in responses]
    for response in responses:
        assert_acknowledged(vendor, response, response.json()["status"])
    stack.delivered(vendor, call_id)
    assert stored_events(stack, vendor, call_id) == 1
    assert len(stack.tickets_of(vendor, call_id)) == 1


@pytest.mark.slow
def test_tickets_api_down_every_webhook_acknowledged_then_delivered_once(
    new_stack: Callable[..., Stack],
) -> None:
    """While the CRM answers 503, webhooks are still acknowledged (a vendor
    that sees errors disables the hook) and retried; once it recovers every
    call gets exactly one ticket."""
    stack = new_stack(RETRY_MAX_ATTEMPTS="50")
    stack.sandbox("POST", "/_sandbox/faults", status=503, count=10**6, retry_after="1")
    numbers = [serial() for _ in range(50)]
    for number in numbers:
        assert_acknowledged(
            "voicenter", stack.post_voicenter(voicenter_call(number)), "accepted"
        )

    stack.wait_until(
        lambda: stack.count("attempts >= 1 AND state = 'pending'") == 50,
        20,
        "every ticket to fail at least once against the 503s",
    )
    assert stack.tickets() == []

    stack.sandbox("DELETE", "/_sandbox/faults")
    stack.wait_until(
        lambda: stack.count("state = 'delivered'") == 50,
        30,
        "all 50 tickets to be delivered",
    )
    entries = stack.tickets()
    assert len(entries) == 50
    assert Counter(call_of(entry) for entry in entries) == {
        ("voicenter", f"e2e{number:08d}Q"): 1 for number in numbers
    }
    assert sorted(entry["ticket"]["phone"] for entry in entries) == sorted(
        fake_phone(number) for number in numbers
    )
    assert_ticket_ids(stack, entries)


@pytest.mark.slow
def test_worker_killed_mid_delivery_every_call_still_delivered(
    new_stack: Callable[..., Stack],
) -> None:
    """A worker killed with SIGKILL leaves its claimed tickets leased; once
    the lease runs out a new worker sends them. Only the ticket in flight at
    the kill may reach the CRM twice (the API has no idempotency key)."""
    stack = new_stack(worker=False)
    stack.sandbox("POST", "/_sandbox/latency", seconds=0.3)
    numbers = [serial() for _ in range(20)]
    for number in numbers:
        response = stack.post_voicenter(voicenter_call(number))
        assert_acknowledged("voicenter", response, "accepted")

    first = stack.start_worker()
    stack.wait_until(stack.tickets, 20, "the first ticket", every=0.01)
    stack.kill(first)
    assert first.popen.returncode == -signal.SIGKILL
    stack.start_worker()

    calls = {("voicenter", f"e2e{number:08d}Q") for number in numbers}
    stack.wait_until(
        lambda: calls <= {call_of(entry) for entry in stack.tickets()},
        40,
        "a ticket for every call",
    )
    stack.wait_until(
        lambda: stack.count("state = 'delivered'") == 20,
        20,
        "every ticket row to be marked delivered",
    )

    sent = Counter(call_of(entry) for entry in stack.tickets())
    assert set(sent) == calls
    assert sum(count - 1 for count in sent.values()) <= 1, sent
    rows = stack.query("SELECT state, remote_id FROM tickets")
    assert len(rows) == 20
    assert {state for state, _ in rows} == {"delivered"}
    ids = {entry["id"] for entry in stack.tickets()}
    assert all(
        TICKET_ID.fullmatch(remote_id) and remote_id in ids for _, remote_id in rows
    )
