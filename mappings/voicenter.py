"""Voicenter CDR notifications: one record per finished call.

Voicenter has no "missed call" event; each CDR carries a call ``type`` and a
final ``status`` and the outcome is read from the pair. The same fields
arrive as JSON or form-encoded; in the form variant nested parts such as
``IVR`` and ``aiData`` are JSON text.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, post_load

from mappings.base import (
    EpochTime,
    IdString,
    JsonText,
    Seconds,
    Text,
    VendorSchema,
    text,
)
from mappings.event import CallEvent, Direction, EventKind
from mappings.phones import to_e164

_INBOUND_TYPES = {"Incoming Call", "Queue", "VoiceMail", "Click 2 IVR Incoming"}
_OUTBOUND_TYPES = {
    "Extension Outgoing",
    "Click2Call leg1",
    "Click2Call leg2",
    "ProductiveCall Leg1",
    "ProductiveCall Leg2",
    "Click 2 IVR",
}
_STATUS_TEXT = {
    "NOANSWER": "no one answered",
    "BUSY": "line busy",
    "CANCEL": "caller hung up before an answer",
    "ABANDONE": "caller hung up while waiting in the queue",
    "TIMEOUT": "queue wait timed out",
    "FULL": "queue was full",
    "EXIT": "caller left the queue",
    "JOINEMPTY": "queue had no agents",
    "NOTCALLED": "call was not placed",
}


class VoicenterSchema(VendorSchema):
    vendor = "voicenter"

    ivruniqueid = IdString(required=True)
    type = Text(load_default="")
    status = Text(load_default="")
    direction = Text(load_default="")
    caller = Text(load_default="")
    caller_phone = Text(data_key="callerPhone", load_default="")
    target = Text(load_default="")
    did = Text(load_default="")
    time = EpochTime(allow_none=True, load_default=None)
    duration = Seconds(allow_none=True, load_default=None)
    is_answer = fields.Integer(data_key="isAnswer", allow_none=True, load_default=None)
    queuename = Text(load_default="")
    record = Text(load_default="")
    representative_name = Text(load_default="")
    targetextension_name = Text(load_default="")
    ivr = JsonText(data_key="IVR", allow_none=True, load_default=None)
    ai_data = JsonText(data_key="aiData", allow_none=True, load_default=None)

    @post_load
    def _make_event(self, data: dict[str, Any], **_: Any) -> CallEvent:
        direction = _direction(data["direction"], data["type"])
        kind = _kind(data, direction)
        caller_raw = data["caller_phone"] or data["caller"]
        if direction is Direction.OUTBOUND:
            caller_raw = data["target"]

        agent = data["representative_name"] or data["targetextension_name"]
        return CallEvent(
            vendor=self.vendor,
            event_id=data["ivruniqueid"],
            call_id=data["ivruniqueid"],
            kind=kind,
            direction=direction,
            caller=to_e164(caller_raw, self.region),
            caller_raw=caller_raw,
            line=data["did"],
            agent=agent,
            queue=data["queuename"],
            missed_reason=_missed_reason(kind, data["status"], data["ivr"]),
            answered=data["status"] == "ANSWER",
            duration=data["duration"],
            started_at=data["time"],
            transcription=_ai_text(data["ai_data"]),
            recording_url=data["record"] if kind is not EventKind.VOICEMAIL else "",
            voicemail_url=data["record"] if kind is EventKind.VOICEMAIL else "",
            status=f"{data['type']} {data['status']}".strip(),
        )


def _direction(value: str, call_type: str) -> Direction:
    by_name = {
        "incoming": Direction.INBOUND,
        "outgoing": Direction.OUTBOUND,
        "internal": Direction.INTERNAL,
    }
    if value.lower() in by_name:
        return by_name[value.lower()]
    if call_type in _INBOUND_TYPES:
        return Direction.INBOUND
    if call_type in _OUTBOUND_TYPES:
        return Direction.OUTBOUND
    return Direction.UNKNOWN


def _kind(data: dict[str, Any], direction: Direction) -> EventKind:
    status = data["status"]
    if data["type"] == "VoiceMail" or status == "VOICEMAIL":
        return EventKind.VOICEMAIL
    if status == "ANSWER" or data["is_answer"] == 1:
        return EventKind.CALL_ENDED
    if direction is Direction.INBOUND and status:
        return EventKind.MISSED_CALL
    return EventKind.CALL_ENDED


def _missed_reason(kind: EventKind, status: str, ivr: Any) -> str:
    if kind is not EventKind.MISSED_CALL:
        return ""
    reason = _STATUS_TEXT.get(status, status.lower())
    menu = _ivr_path(ivr)
    return f"{reason} (IVR: {menu})" if menu else reason


def _ivr_path(ivr: Any) -> str:
    if not isinstance(ivr, list):
        return ""
    steps = []
    for layer in ivr:
        if isinstance(layer, dict) and layer.get("layer_name"):
            choice = text(layer.get("Dtmf"))
            name = text(layer["layer_name"])
            steps.append(f"{name} [{choice}]" if choice else name)
    return " > ".join(steps)


def _ai_text(ai_data: Any) -> str:
    """The AI add-on's summary and transcript, when the account has it."""
    if not isinstance(ai_data, dict):
        return ""
    lines = []
    insights = ai_data.get("insights")
    if isinstance(insights, dict) and text(insights.get("summary")):
        lines.append(f"Summary: {text(insights['summary'])}")

    speakers = {"Speaker0": "Agent", "Speaker1": "Caller"}
    transcript = ai_data.get("transcript")
    for part in transcript if isinstance(transcript, list) else []:
        if isinstance(part, dict) and text(part.get("text")):
            who = speakers.get(text(part.get("speaker")), text(part.get("speaker")))
            lines.append(f"{who}: {text(part['text'])}")
    return "\n".join(lines)
