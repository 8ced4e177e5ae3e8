"""Every fixture of every vendor, through its schema and the ticket policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from marshmallow import ValidationError

from mappings.event import EventKind, dump_event, load_event
from mappings.policy import decide
from mappings.registry import SCHEMAS, schema_for
from mappings.routing import Route
from mappings.ticket import TicketStyle, build_ticket, join_call

FIXTURES = Path(__file__).parent / "fixtures"

# fixture -> (kind, makes a ticket, caller in E.164 or "")
EXPECTED: dict[tuple[str, str], tuple[EventKind, bool, str]] = {
    ("twilio", "status_no_answer.form"): (EventKind.MISSED_CALL, True, "+15550100123"),
    ("twilio", "status_busy.form"): (EventKind.MISSED_CALL, True, "+972500000123"),
    ("twilio", "status_canceled.form"): (EventKind.MISSED_CALL, True, "+15550100123"),
    ("twilio", "status_ringing.form"): (EventKind.PROGRESS, False, "+15550100123"),
    ("twilio", "status_completed.form"): (EventKind.CALL_ENDED, False, "+15550100123"),
    ("twilio", "status_outbound.form"): (EventKind.MISSED_CALL, False, "+15550100155"),
    ("twilio", "status_anonymous.form"): (EventKind.MISSED_CALL, True, ""),
    ("twilio", "dial_no_answer.form"): (EventKind.MISSED_CALL, True, "+15550100124"),
    ("twilio", "voicemail_status.form"): (EventKind.CALL_ENDED, False, "+15550100125"),
    ("twilio", "voicemail_recording.form"): (EventKind.VOICEMAIL, True, ""),
    ("twilio", "voicemail_transcription.form"): (
        EventKind.TRANSCRIPTION,
        True,
        "+15550100125",
    ),
    ("twilio", "transcription_failed.form"): (
        EventKind.TRANSCRIPTION,
        True,
        "+15550100126",
    ),
    ("twilio", "recording_call.form"): (EventKind.RECORDING, False, ""),
    ("twilio", "recording_absent.form"): (EventKind.PROGRESS, False, ""),
    ("aircall", "call_created.json"): (EventKind.PROGRESS, False, "+15550100123"),
    ("aircall", "call_ringing_on_agent.json"): (
        EventKind.PROGRESS,
        False,
        "+15550100123",
    ),
    ("aircall", "call_answered.json"): (EventKind.PROGRESS, False, "+972500000144"),
    ("aircall", "call_hungup.json"): (EventKind.PROGRESS, False, "+15550100123"),
    ("aircall", "call_ended_missed.json"): (
        EventKind.MISSED_CALL,
        True,
        "+15550100123",
    ),
    ("aircall", "call_ended_answered.json"): (
        EventKind.CALL_ENDED,
        False,
        "+972500000144",
    ),
    ("aircall", "call_ended_outbound.json"): (
        EventKind.CALL_ENDED,
        False,
        "+15550100150",
    ),
    ("aircall", "call_ended_anonymous.json"): (EventKind.MISSED_CALL, True, ""),
    ("aircall", "call_voicemail_left.json"): (
        EventKind.VOICEMAIL,
        True,
        "+447700900123",
    ),
    ("aircall", "call_commented.json"): (EventKind.COMMENT, True, "+972500000145"),
    ("aircall", "call_ivr_option_selected.json"): (
        EventKind.PROGRESS,
        False,
        "+15550100123",
    ),
    ("aircall", "call_comm_assets_generated.json"): (
        EventKind.PROGRESS,
        False,
        "+447700900123",
    ),
    ("aircall", "transcription_created.json"): (EventKind.TRANSCRIPTION, True, ""),
    ("voicenter", "queue_abandoned.json"): (
        EventKind.MISSED_CALL,
        True,
        "+972500001234",
    ),
    ("voicenter", "queue_abandoned.form"): (
        EventKind.MISSED_CALL,
        True,
        "+972500001238",
    ),
    ("voicenter", "incoming_noanswer.json"): (
        EventKind.MISSED_CALL,
        True,
        "+972500001235",
    ),
    ("voicenter", "incoming_busy_abroad.json"): (
        EventKind.MISSED_CALL,
        True,
        "+15550100160",
    ),
    ("voicenter", "voicemail.json"): (EventKind.VOICEMAIL, True, "+972500001236"),
    ("voicenter", "answered_with_ai.json"): (
        EventKind.CALL_ENDED,
        False,
        "+972500004321",
    ),
    ("voicenter", "extension_outgoing.json"): (
        EventKind.CALL_ENDED,
        False,
        "+972500001237",
    ),
}


def load_fixture(vendor: str, path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data: dict[str, Any] = json.loads(text)
        return data
    return dict(parse_qsl(text, keep_blank_values=True))


def all_fixtures() -> list[tuple[str, str]]:
    return sorted(
        (path.parent.name, path.name)
        for path in FIXTURES.glob("*/*")
        if path.suffix in (".json", ".form")
    )


@pytest.mark.parametrize("vendor", sorted(SCHEMAS))
def test_every_vendor_has_fixtures_with_expectations(vendor: str) -> None:
    names = [name for v, name in all_fixtures() if v == vendor]
    assert len(names) >= 3, f"{vendor} needs fixtures for each event kind"
    assert all((vendor, name) in EXPECTED for name in names)


def test_every_expectation_has_its_fixture() -> None:
    assert sorted(EXPECTED) == all_fixtures()


@pytest.mark.parametrize(("vendor", "name"), sorted(EXPECTED))
def test_fixture_normalizes_to_expected_event(vendor: str, name: str) -> None:
    kind, makes_ticket, caller = EXPECTED[(vendor, name)]
    payload = load_fixture(vendor, FIXTURES / vendor / name)

    event = schema_for(vendor, "IL").load_event(payload)

    assert event.vendor == vendor
    assert event.kind is kind
    assert event.caller == caller
    assert decide(event).ticket is makes_ticket
    assert event.event_id and event.call_id
    assert load_event(json.loads(json.dumps(dump_event(event)))) == event


OUTBOUND = [
    ("twilio", "status_outbound.form", "Unanswered call to +1 555-010-0155"),
    ("aircall", "call_ended_outbound.json", "Call to +1 555-010-0150"),
    ("voicenter", "extension_outgoing.json", "Call to 050-000-1237"),
]


@pytest.mark.parametrize(("vendor", "name", "subject"), OUTBOUND)
def test_outbound_trigger_alone_logs_every_outbound_call(
    vendor: str, name: str, subject: str
) -> None:
    """An agent's own calls become tickets only when asked, answered or not,
    and say whom the agent called."""
    event = schema_for(vendor, "IL").load_event(
        load_fixture(vendor, FIXTURES / vendor / name)
    )

    decision = decide(event, frozenset({"outbound"}))
    ticket = build_ticket(join_call([event]), Route(status="1"), TicketStyle())

    assert (decision.ticket, decision.reason) == (True, "outbound")
    assert decide(event, frozenset({"missed", "answered"})).ticket is False
    assert ticket["subject"] == subject
    assert "\nNumber called: +" in ticket["msg"]


def test_twilio_voicemail_callbacks_share_one_call_id() -> None:
    schema = schema_for("twilio", "IL")
    names = ["voicemail_status", "voicemail_recording", "voicemail_transcription"]
    events = [
        schema.load_event(load_fixture("twilio", FIXTURES / "twilio" / f"{n}.form"))
        for n in names
    ]

    assert {e.call_id for e in events} == {"CA0000000000000000000000000000a009"}
    assert len({e.event_id for e in events}) == 3


def test_twilio_without_call_sid_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        schema_for("twilio", "IL").load_event({"CallStatus": "no-answer"})

    assert info.value.messages == {"CallSid": ["Missing data for required field."]}


def test_aircall_id_kept_as_exact_text() -> None:
    payload = load_fixture("aircall", FIXTURES / "aircall" / "call_ended_missed.json")
    payload["data"]["id"] = 271911966272026940869079307116515873576

    event = schema_for("aircall", "IL").load_event(payload)

    assert event.call_id == "271911966272026940869079307116515873576"


def test_aircall_float_id_is_refused() -> None:
    payload = load_fixture("aircall", FIXTURES / "aircall" / "call_ended_missed.json")
    payload["data"]["id"] = 9.0e20

    with pytest.raises(ValidationError) as info:
        schema_for("aircall", "IL").load_event(payload)

    assert "id" in info.value.messages["data"]


def test_aircall_comment_keeps_hebrew_and_emoji() -> None:
    payload = load_fixture("aircall", FIXTURES / "aircall" / "call_commented.json")

    event = schema_for("aircall", "IL").load_event(payload)

    assert event.comments == ("Agent Example: הלקוח מבקש החזר כספי על הזמנה 12345 🙏",)
    assert event.agent == "Agent Example"


def test_aircall_media_links_to_the_lasting_call_page() -> None:
    """Aircall's MP3 links expire within the hour; the asset page does not."""
    folder = FIXTURES / "aircall"
    schema = schema_for("aircall", "IL")

    left = schema.load_event(
        load_fixture("aircall", folder / "call_voicemail_left.json")
    )
    generated = schema.load_event(
        load_fixture("aircall", folder / "call_comm_assets_generated.json")
    )

    assert left.voicemail_url.endswith("/voicemail-900000002.mp3")
    assert generated.voicemail_url == "https://assets.example.com/calls/900000002"
    assert generated.recording_url == ""


def test_voicenter_form_reads_ivr_from_json_text() -> None:
    payload = load_fixture("voicenter", FIXTURES / "voicenter" / "queue_abandoned.form")

    event = schema_for("voicenter", "IL").load_event(payload)

    assert event.missed_reason == (
        "caller hung up while waiting in the queue (IVR: Main menu [2])"
    )
    assert event.queue == "תמיכה טכנית"


def test_voicenter_bad_ivr_text_is_a_field_error() -> None:
    payload = load_fixture("voicenter", FIXTURES / "voicenter" / "queue_abandoned.form")
    payload["IVR"] = "[{not json"

    with pytest.raises(ValidationError) as info:
        schema_for("voicenter", "IL").load_event(payload)

    assert "IVR" in info.value.messages


def test_voicenter_ai_summary_and_transcript_are_kept() -> None:
    payload = load_fixture(
        "voicenter", FIXTURES / "voicenter" / "answered_with_ai.json"
    )

    event = schema_for("voicenter", "IL").load_event(payload)

    assert event.transcription.splitlines() == [
        "Summary: Customer asked to reschedule a technician visit.",
        "Agent: Hello, support.",
        "Caller: I need to move my appointment.",
    ]


def test_voicenter_numbers_and_nulls_read_as_text() -> None:
    """Accounts whose CDRs carry phones as numbers and absent parts as null
    still make their tickets; refusing them would only bring resends."""
    payload = json.loads((FIXTURES / "voicenter" / "queue_abandoned.json").read_text())
    payload.update(caller=972500001234, callerPhone=None, did=97235550100)
    payload.update(queuename=None, record=None, representative_name=None)

    event = schema_for("voicenter", "IL").load_event(payload)

    assert event.caller == "+972500001234"
    assert event.caller_raw == "972500001234"
    assert event.line == "97235550100"
    assert (event.queue, event.recording_url, event.agent) == ("", "", "")
    assert event.kind is EventKind.MISSED_CALL


@pytest.mark.parametrize(("sent", "read"), [(47, 47), ("47", 47), (1.5, 2), (0.4, 0)])
def test_durations_are_rounded_to_whole_seconds(sent: object, read: int) -> None:
    payload = json.loads((FIXTURES / "voicenter" / "queue_abandoned.json").read_text())
    payload["duration"] = sent

    event = schema_for("voicenter", "IL").load_event(payload)

    assert event.duration == read


def test_every_schema_has_a_verifier_and_every_verifier_a_schema() -> None:
    from gateway.vendors import VENDORS

    assert sorted(VENDORS) == sorted(SCHEMAS)


def test_aircall_comments_without_ids_are_told_apart() -> None:
    payload = load_fixture("aircall", FIXTURES / "aircall" / "call_commented.json")
    schema = schema_for("aircall", "IL")
    first_comment = {"content": "first", "posted_at": 1741090990}
    payload["data"]["comments"] = [first_comment]
    first = schema.load_event(payload)

    payload["data"]["comments"] = [first_comment, {"content": "second"}]
    second = schema.load_event(payload)

    assert first.event_id != second.event_id
    assert schema.load_event(payload).event_id == second.event_id
