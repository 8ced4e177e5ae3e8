"""Twilio Programmable Voice callbacks: status, recording and transcription.

Twilio names no event: the kind of callback shows in which parameters are
present. One call sends up to three separate callbacks (call status,
recording status, transcription) that all carry the same ``CallSid``; the
gateway joins them into one ticket.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load
from marshmallow.validate import OneOf, Regexp

from mappings.base import IdString, Seconds, VendorSchema, rfc2822_time
from mappings.event import CallEvent, Direction, EventKind
from mappings.phones import to_e164

_NOT_REACHED = {"no-answer", "busy", "failed", "canceled"}
_ENDED = _NOT_REACHED | {"completed"}
_MISSED_REASONS = {
    "no-answer": "no one answered",
    "busy": "line busy",
    "failed": "call failed",
    "canceled": "caller hung up before an answer",
}


_CALL_STATUSES = (
    "",
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "answered",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
)
_RECORDING_STATUSES = ("", "in-progress", "completed", "absent", "failed")
_TEXT_STATUSES = ("", "in-progress", "completed", "failed")


def _sid(prefix: str) -> Regexp:
    """Twilio ids: a two-letter prefix and 32 hex digits.

    Twilio's signature joins names and values with nothing between them, so
    a field boundary can be moved without breaking it (``CallSid=CA..``
    plus ``CallStatus=busy`` signs like ``CallSid=CA..CallStatusbusy``).
    Holding every id and status to its exact form closes that door.
    """
    return Regexp(
        rf"^({prefix}[0-9a-fA-F]{{32}})?$",
        error=f"Expected a Twilio id: {prefix} and 32 hex digits.",
    )


class TwilioSchema(VendorSchema):
    vendor = "twilio"

    call_sid = IdString(data_key="CallSid", required=True, validate=_sid("CA"))
    call_status = fields.String(
        data_key="CallStatus", load_default="", validate=OneOf(_CALL_STATUSES)
    )
    dial_call_status = fields.String(
        data_key="DialCallStatus", load_default="", validate=OneOf(_CALL_STATUSES)
    )
    direction = fields.String(data_key="Direction", load_default="")
    sender = fields.String(data_key="From", load_default="")
    legacy_caller = fields.String(data_key="Caller", load_default="")
    to = fields.String(data_key="To", load_default="")
    legacy_called = fields.String(data_key="Called", load_default="")
    caller_name = fields.String(data_key="CallerName", load_default="")
    call_duration = Seconds(data_key="CallDuration", load_default=None)
    dial_call_duration = Seconds(data_key="DialCallDuration", load_default=None)
    timestamp = fields.String(data_key="Timestamp", load_default="")
    sequence_number = fields.String(data_key="SequenceNumber", load_default="")
    recording_sid = IdString(
        data_key="RecordingSid", load_default="", validate=_sid("RE")
    )
    recording_url = fields.String(data_key="RecordingUrl", load_default="")
    recording_status = fields.String(
        data_key="RecordingStatus", load_default="", validate=OneOf(_RECORDING_STATUSES)
    )
    recording_source = fields.String(data_key="RecordingSource", load_default="")
    transcription_sid = IdString(
        data_key="TranscriptionSid", load_default="", validate=_sid("TR")
    )
    transcription_text = fields.String(data_key="TranscriptionText", load_default="")
    transcription_status = fields.String(
        data_key="TranscriptionStatus", load_default="", validate=OneOf(_TEXT_STATUSES)
    )

    @post_load
    def _make_event(self, data: dict[str, Any], **_: Any) -> CallEvent:
        direction = _direction(data["direction"])
        caller_raw = data["sender"] or data["legacy_caller"]
        line = data["to"] or data["legacy_called"]
        if direction is Direction.OUTBOUND:
            caller_raw, line = line, caller_raw

        common: dict[str, Any] = {
            "vendor": self.vendor,
            "call_id": data["call_sid"],
            "direction": direction,
            "caller": to_e164(caller_raw, self.region),
            "caller_raw": caller_raw,
            "caller_name": data["caller_name"],
            "line": line,
        }
        if data["transcription_sid"]:
            return _transcription(data, common)
        if data["recording_sid"] and data["recording_status"]:
            return _recording(data, common)
        return _status(data, common)


def _transcription(data: dict[str, Any], common: dict[str, Any]) -> CallEvent:
    status = data["transcription_status"]
    transcription = data["transcription_text"]
    if status and status != "completed":
        transcription = f"(transcription {status})"

    return CallEvent(
        event_id=data["transcription_sid"],
        kind=EventKind.TRANSCRIPTION,
        transcription=transcription,
        voicemail_url=data["recording_url"],
        status=status,
        **common,
    )


def _recording(data: dict[str, Any], common: dict[str, Any]) -> CallEvent:
    status = data["recording_status"]
    if status != "completed":
        kind = EventKind.PROGRESS
    elif data["recording_source"] == "RecordVerb":
        kind = EventKind.VOICEMAIL
    else:
        kind = EventKind.RECORDING

    url = data["recording_url"] if status == "completed" else ""
    return CallEvent(
        event_id=f"{data['recording_sid']}:{status}",
        kind=kind,
        voicemail_url=url if kind is EventKind.VOICEMAIL else "",
        recording_url=url if kind is EventKind.RECORDING else "",
        status=f"recording {status}",
        **common,
    )


def _status(data: dict[str, Any], common: dict[str, Any]) -> CallEvent:
    """A call status callback, or the ``<Dial action>`` request.

    On the inbound parent leg the call is ``completed`` even when no agent
    picked up; the agent leg's outcome then comes as ``DialCallStatus``.
    """
    dial_status = data["dial_call_status"]
    status = data["call_status"]
    if not status and not dial_status:
        raise ValidationError(
            "Expected CallStatus, DialCallStatus, RecordingSid or "
            "TranscriptionSid; none was sent.",
            field_name="CallStatus",
        )

    outcome = dial_status or status
    if outcome in _NOT_REACHED:
        kind = EventKind.MISSED_CALL
    elif outcome == "completed":
        kind = EventKind.CALL_ENDED
    else:
        kind = EventKind.PROGRESS

    event_id = f"{data['call_sid']}:{status or 'dial'}:{dial_status or ''}"
    duration = data["call_duration"]
    if dial_status:
        duration = data["dial_call_duration"] or duration

    return CallEvent(
        event_id=event_id.rstrip(":"),
        kind=kind,
        missed_reason=_MISSED_REASONS.get(outcome, ""),
        answered=_answered(outcome, dial_status),
        duration=duration if outcome in _ENDED else None,
        ended_at=rfc2822_time(data["timestamp"]) if outcome in _ENDED else None,
        status=outcome,
        **common,
    )


def _answered(outcome: str, dial_status: str) -> bool | None:
    if outcome in _NOT_REACHED:
        return False
    if outcome == "completed" and dial_status:
        return True
    return None


def _direction(value: str) -> Direction:
    if value in ("inbound", "trunking-terminating"):
        return Direction.INBOUND
    if value.startswith("outbound") or value == "trunking-originating":
        return Direction.OUTBOUND
    return Direction.UNKNOWN
