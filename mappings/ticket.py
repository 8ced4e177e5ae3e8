"""From the events of one call to the tickets API's create payload.

The payload follows the documented contract: every field is a string, ids
are kept as strings (they are 39-digit numbers that no JSON number holds),
and fields the gateway has nothing for are sent as ``""``.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, fields

from mappings.event import CallEvent, Direction, EventKind
from mappings.phones import crm_phone, display_phone, is_hidden
from mappings.routing import Route

SUBJECT_LIMIT = 200
# Embeddings and overrides (LRE, RLE, PDF, LRO, RLO): an override shows the
# digits of a phone number backwards. Other format characters are kept: the
# marks and isolates of mixed Hebrew text, joiners and non-joiners, and the
# tags of flag emoji.
_BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e")

# When a call produced several kinds of event, the subject names the one a
# support agent most needs to see first.
_HEADLINE_ORDER = (
    EventKind.VOICEMAIL,
    EventKind.MISSED_CALL,
    EventKind.COMMENT,
    EventKind.TRANSCRIPTION,
    EventKind.CALL_ENDED,
    EventKind.RECORDING,
    EventKind.PROGRESS,
)
_HEADLINES = {
    EventKind.VOICEMAIL: "Voicemail from {who}",
    EventKind.MISSED_CALL: "Missed call from {who}",
    EventKind.COMMENT: "Call note: call with {who}",
    EventKind.TRANSCRIPTION: "Voicemail from {who}",
    EventKind.CALL_ENDED: "Call with {who}",
    EventKind.RECORDING: "Call with {who}",
    EventKind.PROGRESS: "Call with {who}",
}
# Calls an agent made: {who} is the person called.
_OUTBOUND_HEADLINES = {
    EventKind.MISSED_CALL: "Unanswered call to {who}",
    EventKind.COMMENT: "Call note: call to {who}",
}


class TicketSchema(Schema):
    """The create payload of ``POST /v2/tickets/create``."""

    account_id = fields.String(load_default="", dump_default="")
    subject = fields.String(required=True)
    msg = fields.String(load_default="", dump_default="")
    owner = fields.String(load_default="", dump_default="")
    department_id = fields.String(load_default="", dump_default="")
    priority_id = fields.String(load_default="", dump_default="")
    status = fields.String(required=True)
    phone = fields.String(load_default="", dump_default="")
    email = fields.String(load_default="", dump_default="")


@dataclasses.dataclass(frozen=True)
class TicketStyle:
    """How the ticket is written: phone form, time zone, account."""

    region: str = "IL"
    phone_format: str = "national"
    timezone: str = "Asia/Jerusalem"
    account_id: str = ""


@dataclasses.dataclass
class Call:
    """What the events of one call say, joined: first non-empty value wins."""

    vendor: str
    call_id: str
    kinds: list[EventKind] = dataclasses.field(default_factory=list)
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    comments: list[str] = dataclasses.field(default_factory=list)
    transcriptions: list[str] = dataclasses.field(default_factory=list)
    outbound: bool = False

    @property
    def headline_kind(self) -> EventKind:
        return min(self.kinds, key=_HEADLINE_ORDER.index)

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str) -> str:
        value = self.values.get(name)
        return "" if value is None else str(value)


_JOINED = (
    "caller",
    "caller_raw",
    "caller_name",
    "caller_email",
    "line",
    "agent",
    "queue",
    "missed_reason",
    "duration",
    "started_at",
    "ended_at",
    "recording_url",
    "voicemail_url",
)


def join_call(events: Sequence[CallEvent]) -> Call:
    """Join the events of one call, in the order they arrived."""
    if not events:
        raise ValueError("A call needs at least one event to make a ticket.")

    call = Call(vendor=events[0].vendor, call_id=events[0].call_id)
    for event in events:
        call.kinds.append(event.kind)
        call.outbound = call.outbound or event.direction is Direction.OUTBOUND
        for name in _JOINED:
            value = getattr(event, name)
            if value not in (None, "") and call.values.get(name) in (None, ""):
                call.values[name] = value
        _add_unique(call.comments, event.comments)
        if event.transcription:
            _add_unique(call.transcriptions, (event.transcription,))
    return call


def _add_unique(target: list[str], items: Sequence[str]) -> None:
    for item in items:
        if item not in target:
            target.append(item)


def build_ticket(call: Call, route: Route, style: TicketStyle) -> dict[str, str]:
    """Write the create payload for ``call``."""
    caller = call.text("caller")
    payload = {
        "account_id": style.account_id,
        "subject": subject(call, style),
        "msg": message(call, style),
        "owner": route.owner,
        "department_id": route.department_id,
        "priority_id": route.priority_id,
        "status": route.status,
        "phone": crm_phone(caller, style.region, style.phone_format),
        "email": call.text("caller_email"),
    }
    ticket: dict[str, str] = TicketSchema().dump(
        {name: _printable(value) for name, value in payload.items()}
    )
    return ticket


def _printable(text: str) -> str:
    """Drop control and bidi-override characters that vendors let through.

    They garble a CRM's display (a right-to-left override flips a phone
    number) and cannot be seen to be removed by hand; line breaks and tabs
    stay, and so does every other character, byte for byte. Lone surrogates
    go too: they are not text, and no JSON encoder that writes UTF-8 can
    send them.
    """
    return "".join(ch for ch in text if _shown(ch))


def _shown(ch: str) -> bool:
    if ch in "\n\t":
        return True
    if ch in _BIDI_OVERRIDES:
        return False
    return unicodedata.category(ch) not in ("Cc", "Cs")


def subject(call: Call, style: TicketStyle) -> str:
    who = _who(call, style)
    headline = _HEADLINES[call.headline_kind]
    if call.outbound:
        headline = _OUTBOUND_HEADLINES.get(call.headline_kind, "Call to {who}")
    return headline.format(who=who)[:SUBJECT_LIMIT]


def _who(call: Call, style: TicketStyle) -> str:
    caller, name = call.text("caller"), call.text("caller_name")
    if caller:
        shown = display_phone(caller, style.region)
        return f"{shown} ({name})" if name else shown
    if name:
        return name
    raw = call.text("caller_raw")
    if not raw:
        return "an unknown caller"
    return "a hidden number" if is_hidden(raw) else raw


def message(call: Call, style: TicketStyle) -> str:
    """The ticket body: one readable line per fact, then the long texts."""
    lines = [subject(call, style)]
    facts = (
        ("Number called" if call.outbound else "Caller", _caller_line(call)),
        ("Line" if call.outbound else "Line called", call.text("line")),
        ("Time", _when(call, style)),
        ("Duration", _duration(call.get("duration"))),
        ("Agent", call.text("agent")),
        ("Queue", call.text("queue")),
        ("Missed reason", call.text("missed_reason")),
        ("Voicemail", call.text("voicemail_url")),
        ("Recording", call.text("recording_url")),
    )
    lines += [f"{label}: {value}" for label, value in facts if value]

    if call.comments:
        lines += ["", "Comments:"] + [f"- {c}" for c in call.comments]
    if call.transcriptions:
        lines += ["", "Transcription:", *call.transcriptions]
    lines += ["", f"Source: {call.vendor}, call {call.call_id}"]
    return "\n".join(lines)


def _caller_line(call: Call) -> str:
    caller, raw = call.text("caller"), call.text("caller_raw")
    if caller:
        return caller
    if not raw:
        return "unknown"
    return "hidden" if is_hidden(raw) else f"{raw} (not a phone number)"


def _when(call: Call, style: TicketStyle) -> str:
    moment: datetime | None = call.get("started_at") or call.get("ended_at")
    if moment is None:
        return ""
    try:
        local = moment.astimezone(ZoneInfo(style.timezone))
    except OverflowError:
        return f"{moment.isoformat()} (UTC)"
    return f"{local:%Y-%m-%d %H:%M:%S} ({style.timezone})"


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
