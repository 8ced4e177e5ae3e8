"""The ``ringdesk`` command: simulate every fixture, sign, replay, list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from click.testing import CliRunner
from test_vendors import EXPECTED

from gateway import migrate
from gateway.cli import main
from gateway.config import DEMO_SETTINGS
from gateway.db import make_engine, utcnow
from gateway.inbox import store_event
from gateway.outbox import DEAD, DELIVERED, Attempt, claim_due, record_attempt
from gateway.signatures import twilio_signature
from mappings.event import CallEvent, EventKind
from mappings.policy import Decision

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("TICKETS_API_URL", raising=False)
    return CliRunner()


@pytest.mark.parametrize(("vendor", "name"), sorted(EXPECTED))
def test_simulate_prints_event_and_ticket(
    runner: CliRunner, vendor: str, name: str
) -> None:
    kind, makes_ticket, _ = EXPECTED[(vendor, name)]

    result = runner.invoke(main, ["simulate", vendor, str(FIXTURES / vendor / name)])

    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert output["event"]["kind"] == kind.value
    assert output["decision"]["ticket"] is makes_ticket
    assert (output["ticket"] is not None) is makes_ticket
    if makes_ticket:
        assert all(isinstance(v, str) for v in output["ticket"].values())


def test_simulate_reports_an_invalid_body(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"caller": "0500001234"}')

    result = runner.invoke(main, ["simulate", "voicenter", str(bad)])

    assert result.exit_code == 1
    assert "ivruniqueid: Missing data for required field." in result.output


def test_sign_matches_the_verifier(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "test-twilio-auth-token")
    path = FIXTURES / "twilio" / "status_no_answer.form"
    url = "https://gw.example.com/webhooks/twilio"

    result = runner.invoke(main, ["sign", url, str(path)])

    pairs = parse_qsl(path.read_text(), keep_blank_values=True)
    expected = twilio_signature("test-twilio-auth-token", url, pairs)
    assert result.output.strip() == expected


def test_db_upgrade_then_tickets_and_replay(runner: CliRunner) -> None:
    first = runner.invoke(main, ["db", "upgrade"])
    again = runner.invoke(main, ["db", "upgrade"])
    assert first.exit_code == again.exit_code == 0
    assert first.stdout == ""
    assert again.stdout.startswith("database schema is up to date (revision ")

    listing = runner.invoke(main, ["tickets"])
    replayed = runner.invoke(main, ["replay", "--all-dead"])

    assert listing.exit_code == 0
    assert listing.output == "No tickets.\n"
    assert replayed.output.strip() == "0 ticket(s) queued again"


def test_replay_names_the_tickets_it_left_alone(
    runner: CliRunner, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    migrate.upgrade(engine)
    for call_id in ("c1", "c2"):
        event = CallEvent("aircall", call_id, call_id, EventKind.MISSED_CALL)
        store_event(engine, event, Decision(True, "missed"), b"{}", "", 0.0)
    claims = claim_due(engine, "w1", lambda _: {"subject": "s", "status": "1"}, 60)
    for claim in claims:
        state = DEAD if claim.call_id == "c1" else DELIVERED
        attempt = Attempt(utcnow(), 1, 400, state, "")
        record_attempt(engine, claim, "w1", attempt, state)

    result = runner.invoke(main, ["replay", "1", "2", "9"])

    assert result.exit_code == 1
    assert result.stdout == "1 ticket(s) queued again #1\n"
    assert result.stderr.splitlines() == [
        "ticket #2 is delivered, not dead; not queued",
        "ticket #9 does not exist; not queued",
    ]


def test_events_lists_late_and_ignored_events(
    runner: CliRunner, tmp_path: Path
) -> None:
    """An agent's note that came after the ticket went out is found here."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    migrate.upgrade(engine)
    missed = CallEvent("aircall", "call.ended:7", "7", EventKind.MISSED_CALL)
    store_event(engine, missed, Decision(True, "missed"), b"{}", "", 0.0)
    claim_due(engine, "w1", lambda _: {"subject": "s", "status": "1"}, 60)
    note = CallEvent(
        "aircall",
        "call.commented:7:1",
        "7",
        EventKind.COMMENT,
        comments=("Agent: לחזור ללקוח מחר 🙏",),
    )
    store_event(engine, note, Decision(True, "noted"), b"{}", "", 0.0)
    ringing = CallEvent("aircall", "call.created:8", "8", EventKind.PROGRESS)
    store_event(engine, ringing, Decision(False, "call in progress"), b"{}", "", 0.0)

    late = runner.invoke(main, ["events", "--outcome", "late"])
    call = runner.invoke(main, ["events", "--call", "7"])
    none = runner.invoke(main, ["events", "--call", "9"])

    header, row = late.stdout.splitlines()
    assert header.split("\t")[3:7] == ["event", "kind", "outcome", "call's ticket"]
    assert row.split("\t")[2:7] == [
        "aircall",
        "call.commented:7:1",
        "comment",
        "late",
        "#1",
    ]
    assert "the call's ticket was already made" in row
    assert [line.split("\t")[3] for line in call.stdout.splitlines()[1:]] == [
        "call.commented:7:1",
        "call.ended:7",
    ]
    assert none.stdout == "No events.\n"
    late_row = int(row.split("\t")[0])
    shown = json.loads(runner.invoke(main, ["event", str(late_row)]).stdout)
    assert (shown["outcome"], shown["call_ticket"]) == ("late", 1)
    assert shown["normalized"]["comments"] == ["Agent: לחזור ללקוח מחר 🙏"]
    missing = runner.invoke(main, ["event", "99"])
    assert (missing.exit_code, missing.stderr) == (1, "Error: No event #99.\n")


def test_serve_reads_port_and_secrets_from_dotenv_over_the_demo(
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / ".env").write_text(
        "PORT=8765\nVOICENTER_URL_TOKEN=voicenter-from-dotenv\n"
    )
    for name in ("PORT", "HOST", *DEMO_SETTINGS):
        monkeypatch.setenv(name, "restored-after-the-test")
        monkeypatch.delenv(name)
    served: dict[str, Any] = {}
    monkeypatch.setattr(
        "gateway.cli.serve_forever",
        lambda app, host, port: served.update(app=app, port=port),
    )

    result = runner.invoke(main, ["serve", "--demo"])

    assert result.exit_code == 0, result.output
    assert served["port"] == 8765
    client = served["app"].test_client()
    body = (FIXTURES / "voicenter" / "queue_abandoned.json").read_bytes()
    for token, status in (
        ("voicenter-from-dotenv", 200),
        ("demo-voicenter-token", 401),
    ):
        url = f"/webhooks/voicenter/{token}"
        assert client.post(url, data=body).status_code == status
    twilio = client.post("/webhooks/twilio", data={"CallSid": "CA" + "0" * 32})
    assert "X-Twilio-Signature header is missing" in twilio.json["error"]
    assert "SETTLE_SECONDS_TWILIO=15: the README's demo value" in caplog.text
    assert "TWILIO_AUTH_TOKEN: using the README's demo secret" in caplog.text
    assert "VOICENTER_URL_TOKEN: using" not in caplog.text
    assert "demo-twilio-token" not in caplog.text


def test_worker_refuses_to_start_without_an_api(runner: CliRunner) -> None:
    result = runner.invoke(main, ["worker"])

    assert result.exit_code == 1
    assert "TICKETS_API_URL" in result.output
