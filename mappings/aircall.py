"""Aircall call webhooks: one JSON envelope per event, several per call.

``call.ended`` arrives about 30 seconds after hang-up with the final
outcome; ``call.voicemail_left`` and ``call.commented`` may follow. All carry
the call object as ``data``, whose ``id`` joins them into one ticket.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load
from marshmallow.validate import Length

from mappings.base import EpochTime, IdString, Seconds, VendorSchema, text
from mappings.event import CallEvent, Direction, EventKind
from mappings.phones import to_e164

_MISSED_REASONS = {
    "out_of_opening_hours": "called outside opening hours",
    "short_abandoned": "caller hung up quickly",
    "abandoned_in_ivr": "caller hung up in the IVR",
    "abandoned_in_classic": "caller hung up while ringing",
    "no_available_agent": "no agent was available",
    "agents_did_not_answer": "agents did not answer",
}


class _Loose(Schema):
    class Meta:
        unknown = EXCLUDE


class _Named(_Loose):
    name = fields.String(allow_none=True, load_default=None)
    email = fields.String(allow_none=True, load_default=None)


class _Number(_Loose):
    name = fields.String(allow_none=True, load_default=None)
    digits = fields.String(allow_none=True, load_default=None)


class _Value(_Loose):
    value = fields.String(allow_none=True, load_default=None)


class _Contact(_Loose):
    first_name = fields.String(allow_none=True, load_default=None)
    last_name = fields.String(allow_none=True, load_default=None)
    company_name = fields.String(allow_none=True, load_default=None)
    emails = fields.List(fields.Nested(_Value), load_default=list)


class _Comment(_Loose):
    id = IdString(load_default="")
    content = fields.String(allow_none=True, load_default=None)
    posted_at = EpochTime(allow_none=True, load_default=None)
    posted_by = fields.Nested(_Named, allow_none=True, load_default=None)


class _Call(_Loose):
    id = IdString(required=True)
    direction = fields.String(allow_none=True, load_default=None)
    status = fields.String(allow_none=True, load_default=None)
    missed_call_reason = fields.String(allow_none=True, load_default=None)
    started_at = EpochTime(allow_none=True, load_default=None)
    answered_at = EpochTime(allow_none=True, load_default=None)
    ended_at = EpochTime(allow_none=True, load_default=None)
    duration = Seconds(allow_none=True, load_default=None)
    raw_digits = fields.String(allow_none=True, load_default=None)
    voicemail = fields.String(allow_none=True, load_default=None)
    recording = fields.String(allow_none=True, load_default=None)
    asset = fields.String(allow_none=True, load_default=None)
    user = fields.Nested(_Named, allow_none=True, load_default=None)
    number = fields.Nested(_Number, allow_none=True, load_default=None)
    contact = fields.Nested(_Contact, allow_none=True, load_default=None)
    teams = fields.List(fields.Nested(_Named), allow_none=True, load_default=list)
    comments = fields.List(fields.Nested(_Comment), allow_none=True, load_default=list)


class _Transcription(_Loose):
    call_id = IdString(required=True)
    id = IdString(load_default="")
    type = fields.String(allow_none=True, load_default=None)
    content = fields.Raw(allow_none=True, load_default=None)


class AircallSchema(VendorSchema):
    vendor = "aircall"

    resource = fields.String(load_default="")
    event = fields.String(required=True, validate=Length(min=1, max=100))
    timestamp = fields.Integer(allow_none=True, load_default=None)
    data = fields.Dict(required=True)

    @post_load
    def _make_event(self, envelope: dict[str, Any], **_: Any) -> CallEvent:
        name = envelope["event"]
        if name == "transcription.created":
            part = _nested(_Transcription(), envelope["data"])
            return self._transcription(part)

        call = _nested(_Call(), envelope["data"])
        return self._call_event(name, call)

    def _transcription(self, part: dict[str, Any]) -> CallEvent:
        return CallEvent(
            vendor=self.vendor,
            event_id=f"transcription.created:{part['call_id']}:{part['id']}",
            call_id=part["call_id"],
            kind=EventKind.TRANSCRIPTION,
            transcription=_transcript_text(part["content"]),
            answered=part["type"] == "call",
        )

    def _call_event(self, name: str, call: dict[str, Any]) -> CallEvent:
        comments = call["comments"] or []
        kind = _kind(name, call)
        event_id = f"{name}:{call['id']}"
        if name == "call.commented" and comments:
            event_id += f":{_comment_key(comments[-1])}"

        caller_raw = text(call["raw_digits"])
        number = call["number"] or {}
        contact = call["contact"] or {}
        return CallEvent(
            vendor=self.vendor,
            event_id=event_id,
            call_id=call["id"],
            kind=kind,
            direction=_direction(call["direction"]),
            caller=to_e164(caller_raw, self.region),
            caller_raw=caller_raw,
            caller_name=_contact_name(contact),
            caller_email=_first_email(contact),
            line=_line(number),
            agent=text((call["user"] or {}).get("name")),
            queue=", ".join(text(t.get("name")) for t in call["teams"] or []),
            missed_reason=_missed_reason(call["missed_call_reason"]),
            answered=call["answered_at"] is not None,
            duration=call["duration"],
            started_at=call["started_at"],
            ended_at=call["ended_at"],
            comments=tuple(_comment_text(c) for c in comments if c.get("content")),
            recording_url=_media_link(call, "recording"),
            voicemail_url=_media_link(call, "voicemail"),
            status=name,
        )


def _nested(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """Load ``data`` and report its errors under the ``data`` key."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise ValidationError({"data": exc.messages}) from exc
    return loaded


def _kind(name: str, call: dict[str, Any]) -> EventKind:
    if name == "call.voicemail_left":
        return EventKind.VOICEMAIL
    if name == "call.commented":
        return EventKind.COMMENT
    if name != "call.ended":
        return EventKind.PROGRESS
    if call["voicemail"]:
        return EventKind.VOICEMAIL
    if call["answered_at"] is None and call["direction"] != "outbound":
        return EventKind.MISSED_CALL
    return EventKind.CALL_ENDED


def _direction(value: str | None) -> Direction:
    if value == "inbound":
        return Direction.INBOUND
    if value == "outbound":
        return Direction.OUTBOUND
    return Direction.UNKNOWN


def _missed_reason(value: str | None) -> str:
    if not value:
        return ""
    return _MISSED_REASONS.get(value, value.replace("_", " "))


def _media_link(call: dict[str, Any], media: str) -> str:
    """The link a ticket should carry for the call's recording or voicemail.

    Aircall's direct MP3 links stop working after an hour, long before an
    agent reads the ticket; ``asset`` is the call's secured page, which
    plays either and lasts.
    """
    if not text(call[media]):
        return ""
    return text(call["asset"]) or text(call[media])


def _line(number: dict[str, Any]) -> str:
    name, digits = text(number.get("name")), text(number.get("digits"))
    if name and digits:
        return f"{name} ({digits})"
    return name or digits


def _contact_name(contact: dict[str, Any]) -> str:
    first, last = text(contact.get("first_name")), text(contact.get("last_name"))
    person = f"{first} {last}".strip()
    company = text(contact.get("company_name"))
    if person and company:
        return f"{person}, {company}"
    return person or company


def _first_email(contact: dict[str, Any]) -> str:
    for email in contact.get("emails") or []:
        if text(email.get("value")):
            return text(email.get("value"))
    return ""


def _comment_key(comment: dict[str, Any]) -> str:
    """The newest comment's id, or a digest of it when Aircall sent none.

    Comments posted through the API may lack an id; without this, a second
    such comment on the same call would look like a repeat of the first.
    """
    if comment.get("id"):
        return str(comment["id"])
    content = f"{comment.get('posted_at')}:{comment.get('content')}"
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def _comment_text(comment: dict[str, Any]) -> str:
    author = text((comment.get("posted_by") or {}).get("name"))
    content = text(comment.get("content"))
    return f"{author}: {content}" if author else content


def _transcript_text(content: Any) -> str:
    """Aircall's transcript content, whose inner shape is not documented.

    Plain text is used as it is; a list of utterances becomes one line each;
    anything else is kept as JSON so nothing is silently dropped.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, dict) and isinstance(content.get("utterances"), list):
        content = content["utterances"]
    if isinstance(content, list) and all(isinstance(u, dict) for u in content):
        return "\n".join(text(u.get("text")) for u in content if u.get("text"))
    return json.dumps(content, ensure_ascii=False)
