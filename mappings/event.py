"""The one event shape every vendor payload is normalized into.

Vendors disagree on almost everything: field names, phone formats, whether a
missed call is an event or a status. Past the vendor schemas the gateway only
ever sees :class:`CallEvent`, so the ticket policy, the join of one call's
events and the ticket itself are written once.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields, post_load


class EventKind(enum.StrEnum):
    """What happened, in our words rather than the vendor's."""

    MISSED_CALL = "missed_call"
    VOICEMAIL = "voicemail"
    CALL_ENDED = "call_ended"
    COMMENT = "comment"
    TRANSCRIPTION = "transcription"
    RECORDING = "recording"
    PROGRESS = "progress"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class CallEvent:
    """One thing a vendor told us about one call.

    ``event_id`` is the vendor's identity of this notification (the dedup
    key); ``call_id`` groups the events of one call so they end up in one
    ticket. ``caller`` is E.164 or ``""`` when the caller hid the number or
    sent something that is not a phone number; ``caller_raw`` keeps what
    the vendor sent so a person can still read it.
    """

    vendor: str
    event_id: str
    call_id: str
    kind: EventKind
    direction: Direction = Direction.UNKNOWN
    caller: str = ""
    caller_raw: str = ""
    caller_name: str = ""
    caller_email: str = ""
    line: str = ""
    agent: str = ""
    queue: str = ""
    missed_reason: str = ""
    answered: bool | None = None
    duration: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    comments: tuple[str, ...] = ()
    transcription: str = ""
    recording_url: str = ""
    voicemail_url: str = ""
    status: str = ""


class EventSchema(Schema):
    """Stores a :class:`CallEvent` as JSON and reads it back unchanged."""

    vendor = fields.String(required=True)
    event_id = fields.String(required=True)
    call_id = fields.String(required=True)
    kind = fields.Enum(EventKind, by_value=True, required=True)
    direction = fields.Enum(Direction, by_value=True)
    caller = fields.String()
    caller_raw = fields.String()
    caller_name = fields.String()
    caller_email = fields.String()
    line = fields.String()
    agent = fields.String()
    queue = fields.String()
    missed_reason = fields.String()
    answered = fields.Boolean(allow_none=True)
    duration = fields.Integer(allow_none=True)
    started_at = fields.AwareDateTime(allow_none=True)
    ended_at = fields.AwareDateTime(allow_none=True)
    comments = fields.List(fields.String())
    transcription = fields.String()
    recording_url = fields.String()
    voicemail_url = fields.String()
    status = fields.String()

    @post_load
    def _make_event(self, data: dict[str, Any], **_: Any) -> CallEvent:
        data["comments"] = tuple(data.get("comments", ()))
        return CallEvent(**data)


def dump_event(event: CallEvent) -> dict[str, Any]:
    result: dict[str, Any] = EventSchema().dump(event)
    return result


def load_event(data: dict[str, Any]) -> CallEvent:
    event: CallEvent = EventSchema().load(data)
    return event
