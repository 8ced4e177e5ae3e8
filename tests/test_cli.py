"""The ``ringdesk`` command: simulate every fixture, sign, replay, list."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from click.testing import CliRunner
from test_vendors import EXPECTED

from gateway.cli import main
from gateway.signatures import twilio_signature

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
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "demo")
    path = FIXTURES / "twilio" / "status_no_answer.form"
    url = "https://gw.example.com/webhooks/twilio"

    result = runner.invoke(main, ["sign", url, str(path)])

    pairs = parse_qsl(path.read_text(), keep_blank_values=True)
    assert result.output.strip() == twilio_signature("demo", url, pairs)


def test_db_upgrade_then_tickets_and_replay(runner: CliRunner) -> None:
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0

    listing = runner.invoke(main, ["tickets"])
    replayed = runner.invoke(main, ["replay", "--all-dead"])

    assert listing.exit_code == 0
    assert listing.output == "No tickets.\n"
    assert replayed.output.strip() == "0 ticket(s) queued again"


def test_worker_refuses_to_start_without_an_api(runner: CliRunner) -> None:
    result = runner.invoke(main, ["worker"])

    assert result.exit_code == 1
    assert "TICKETS_API_URL" in result.output
