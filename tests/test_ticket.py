"""Joining one call's events and writing the tickets API's create payload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError

from mappings.event import CallEvent, EventKind
from mappings.routing import Route, parse_rules, route
from mappings.ticket import TicketSchema, TicketStyle, build_ticket, join_call

STATUS = "233476065495939904005866822871905093425"
STYLE = TicketStyle()


def missed(**values: object) -> CallEvent:
    base: dict[str, object] = {
        "vendor": "voicenter",
        "event_id": "v1",
        "call_id": "v1",
        "kind": EventKind.MISSED_CALL,
        "caller": "+972500001234",
        "caller_raw": "0500001234",
        "line": "0500000100",
        "queue": "Support",
        "missed_reason": "caller hung up while waiting in the queue",
        "duration": 75,
        "started_at": datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
    }
    return CallEvent(**{**base, **values})  # type: ignore[arg-type]


def test_payload_has_every_field_as_a_string() -> None:
    ticket = build_ticket(join_call([missed()]), Route(status=STATUS), STYLE)

    assert set(ticket) == {
        "account_id",
        "subject",
        "msg",
        "owner",
        "department_id",
        "priority_id",
        "status",
        "phone",
        "email",
    }
    assert all(isinstance(value, str) for value in ticket.values())
    assert ticket["status"] == STATUS
    assert ticket["owner"] == ""


def test_subject_and_message_say_what_happened() -> None:
    ticket = build_ticket(join_call([missed()]), Route(status=STATUS), STYLE)

    assert ticket["subject"] == "Missed call from 050-000-1234"
    assert ticket["phone"] == "0500001234"
    assert ticket["msg"].splitlines() == [
        "Missed call from 050-000-1234",
        "Caller: +972500001234",
        "Line called: 0500000100",
        "Time: 2026-01-01 12:00:00 (Asia/Jerusalem)",
        "Duration: 1 min 15 s",
        "Queue: Support",
        "Missed reason: caller hung up while waiting in the queue",
        "",
        "Source: voicenter, call v1",
    ]


def test_time_zone_and_phone_format_are_configurable() -> None:
    style = TicketStyle(timezone="America/New_York", phone_format="e164")

    ticket = build_ticket(join_call([missed()]), Route(status=STATUS), style)

    assert "Time: 2026-01-01 05:00:00 (America/New_York)" in ticket["msg"]
    assert ticket["phone"] == "+972500001234"


def test_voicemail_headline_wins_over_missed_call() -> None:
    events = [
        missed(),
        missed(
            event_id="v2",
            kind=EventKind.VOICEMAIL,
            voicemail_url="https://example.com/v.mp3",
        ),
        missed(
            event_id="v3",
            kind=EventKind.TRANSCRIPTION,
            transcription="שלום, call me 🙂",
        ),
    ]

    ticket = build_ticket(join_call(events), Route(status=STATUS), STYLE)

    assert ticket["subject"] == "Voicemail from 050-000-1234"
    assert "Voicemail: https://example.com/v.mp3" in ticket["msg"]
    assert ticket["msg"].endswith(
        "Transcription:\nשלום, call me 🙂\n\nSource: voicenter, call v1"
    )


def test_hidden_caller_gets_no_phone() -> None:
    event = missed(caller="", caller_raw="anonymous")

    ticket = build_ticket(join_call([event]), Route(status=STATUS), STYLE)

    assert ticket["phone"] == ""
    assert ticket["subject"] == "Missed call from a hidden number"
    assert "Caller: hidden" in ticket["msg"]


def test_comments_are_listed_once_each() -> None:
    first = missed(kind=EventKind.COMMENT, comments=("Agent: call back 🙏",))
    second = missed(
        event_id="v2",
        kind=EventKind.COMMENT,
        comments=("Agent: call back 🙏", "Agent: done"),
    )

    ticket = build_ticket(join_call([first, second]), Route(status=STATUS), STYLE)

    assert "Comments:\n- Agent: call back 🙏\n- Agent: done" in ticket["msg"]


@pytest.mark.parametrize(
    "text",
    [
        "שלום, אני צריך עזרה עם ההזמנה",
        "שָׁלוֹם עם ניקוד",
        "family 👨\u200d👩\u200d👧 and 👍🏽 and ❤\ufe0f",
        "flag 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
        "order \u2066#12345\u2069 in Hebrew: הזמנה \u2067ABC\u2069",
        "مي\u200cخواهم and word\u2060joiner and soft\u00adhyphen",
        "mark \u200fשלום\u200e 050-000-1234",
    ],
)
def test_notes_reach_the_ticket_byte_for_byte(text: str) -> None:
    event = missed(kind=EventKind.COMMENT, comments=(text,))

    ticket = build_ticket(join_call([event]), Route(status=STATUS), STYLE)

    assert f"- {text}\n" in ticket["msg"] + "\n"


def test_overrides_and_control_characters_are_dropped() -> None:
    """An override shows a number backwards; a bell or escape shows nothing."""
    event = missed(
        kind=EventKind.COMMENT, comments=("call \u202e4321-000-050\u202c back\x07\x1b",)
    )

    ticket = build_ticket(join_call([event]), Route(status=STATUS), STYLE)

    assert "- call 4321-000-050 back\n" in ticket["msg"] + "\n"


def test_schema_requires_subject_and_status() -> None:
    with pytest.raises(ValidationError) as info:
        TicketSchema().load({"msg": "x"})

    assert set(info.value.messages) == {"subject", "status"}


def test_routing_rules_first_match_wins() -> None:
    rules = parse_rules(
        '[{"when": {"kind": "voicemail"}, "set": {"priority_id": "3"}},'
        ' {"when": {"queue": ["Sales", "מכירות"]}, "set": {"department_id": "12"}},'
        ' {"when": {}, "set": {"owner": "99"}}]'
    )
    default = Route(status=STATUS, priority_id="1")

    assert route(default, rules, {"kind": "voicemail"}).priority_id == "3"
    assert route(default, rules, {"queue": "מכירות"}).department_id == "12"
    assert route(default, rules, {"queue": "SALES"}).department_id == "12"
    assert route(default, rules, {"kind": "missed_call"}) == Route(
        status=STATUS, priority_id="1", owner="99"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"when": {}}', "must be a JSON list"),
        (
            '[{"when": {"colour": "red"}, "set": {"owner": "1"}}]',
            "matches on ['colour']",
        ),
        ('[{"when": {}, "set": {"ownr": "1"}}]', "sets ['ownr']"),
        ('[{"when": {}}]', "needs a non-empty 'set'"),
        ('[{"when": {"kind": null}, "set": {"owner": "1"}}]', "matches kind on None"),
        ('[{"when": {"queue": {}}, "set": {"owner": "1"}}]', "matches queue on {}"),
        (
            '[{"when": {"kind": "voicemial"}, "set": {"owner": "1"}}]',
            "matches kind on ['voicemial'], which never occurs",
        ),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_bad_routing_rules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(
        ValueError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        parse_rules(text)
