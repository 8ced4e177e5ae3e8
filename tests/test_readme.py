"""The README's "Try it" section, run as written against ``ringdesk serve``.

A newcomer copies these commands first; if they stop working, this fails.
The only changes made to them are the port and the path of the virtualenv.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
README_PORT = "127.0.0.1:8000"
SOURCE = re.compile(r"^Source: (\w+), call (\S+)$", re.MULTILINE)
_SETTINGS_PREFIXES = (
    "TICKET",
    "SETTLE_",
    "OAUTH_",
    "DATABASE_URL",
    "TWILIO_",
    "AIRCALL_",
    "VOICENTER_",
    "ALLOW_UNSIGNED",
)


def try_it_commands() -> list[str]:
    """The shell blocks of the README's "Try it" section that call the gateway."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try it", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [block for block in blocks if "/webhooks/" in block]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``ringdesk serve --demo`` as ``make run`` starts it, settling faster."""
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SETTINGS_PREFIXES)
    }
    env.update(
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'readme.db'}",
        SETTLE_SECONDS_TWILIO="3",
        SETTLE_SECONDS_AIRCALL="0",
        WORKER_POLL_SECONDS="0.1",
    )
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "ringdesk"), "serve", "--demo"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def _tickets(base: str, count: int, seconds: float = 20) -> list[dict[str, str]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listing = requests.get(f"{base}/sandbox/_sandbox/tickets", timeout=5).json()
        if listing["count"] >= count:
            return [item["ticket"] for item in listing["tickets"]]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} tickets after {seconds} s")


@pytest.mark.slow
def test_readme_curl_examples_each_make_one_ticket(served: str) -> None:
    commands = try_it_commands()
    assert len(commands) == 4, "the README's Try it section changed shape"

    # One shell, as a reader pastes them into one terminal: later blocks use
    # the variables the first one sets.
    script = "\n".join(commands).replace(README_PORT, served.removeprefix("http://"))
    script = script.replace(".venv/bin/", f"{BIN}/")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line]
    assert [answer["status"] for answer in answers] == [
        "accepted",
        "accepted",
        "accepted",
        "ignored",
        "accepted",
        "accepted",
    ], result.stdout

    tickets = _tickets(served, 4)
    calls = sorted(SOURCE.search(ticket["msg"]).groups() for ticket in tickets)  # type: ignore[union-attr]
    assert calls == [
        ("aircall", "900000001"),
        ("twilio", "CA0000000000000000000000000000a001"),
        ("twilio", "CA0000000000000000000000000000a009"),
        ("voicenter", "2026010111000001abcQ"),
    ]
    voicenter = next(t for t in tickets if "call 2026010111000001abcQ" in t["msg"])
    assert voicenter["phone"] == "0500001234"
    assert voicenter["subject"] == "Missed call from 050-000-1234"
    assert "Queue: תמיכה טכנית" in voicenter["msg"]
    voicemail = next(t for t in tickets if "a009" in t["msg"])
    assert voicemail["subject"] == "Voicemail from +1 555-010-0125 (TEST CALLER)"
    assert "my order number is 12345" in voicemail["msg"]
    assert voicemail["phone"] == "+15550100125"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("request_line", "expected"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1", b"HTTP/1.1 414"),
        # http.server answers a line it cannot read at all without a status
        # line, as HTTP/0.9 would: only the error page.
        (b"NOT A REQUEST LINE AT ALL", b"Error code: 400"),
    ],
)
def test_serve_answers_a_broken_request_and_goes_on(
    served: str, request_line: bytes, expected: bytes
) -> None:
    """The development server's request log must not break on a request it
    could not parse: the client gets an HTTP error, not a dropped line."""
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request_line + b"\r\n\r\n")
        answer = b"".join(iter(lambda: sock.recv(4096), b""))

    assert expected in answer, answer[:300]
    assert requests.get(f"{served}/healthz", timeout=5).status_code == 200


def separate_sandbox_recipe() -> str:
    """The README's block that runs the sandbox, gunicorn and a worker."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    [block] = [
        block
        for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
        if "ringdesk sandbox" in block
    ]
    return block


@pytest.mark.slow
def test_readme_separate_sandbox_recipe_runs_as_written(tmp_path: Path) -> None:
    """Pasted into a terminal at the repo root, the recipe shows one ticket.

    Changed for the test: the two ports, the virtualenv's path and the
    database file's folder.
    """
    sandbox_port, gateway_port = free_port(), free_port()
    script = (
        separate_sandbox_recipe()
        .replace("8001", str(sandbox_port))
        .replace("8000", str(gateway_port))
        .replace(".venv/bin/", f"{BIN}/")
        .replace("sqlite:///production-try.db", f"sqlite:///{tmp_path}/try.db")
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SETTINGS_PREFIXES)
    }

    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    accepted, listing = done.stdout.strip().splitlines()[-2:]
    assert json.loads(accepted)["status"] == "accepted", done.stderr
    tickets = json.loads(listing)["tickets"]
    assert [t["ticket"]["subject"] for t in tickets] == [
        "Missed call from 050-000-1234"
    ]
    assert tickets[0]["ticket"]["status"] == "1"
