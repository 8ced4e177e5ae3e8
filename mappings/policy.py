"""The ticket policy: which events are worth a support ticket.

By default a ticket is made for an inbound call no person answered (missed,
abandoned, voicemail) and for a call an agent left a note on. Answered calls
without notes, outbound calls and intermediate statuses make none. Each
vendor can widen or narrow the list of triggers; ``outbound`` makes a ticket
of every outbound call that ended, answered or not.
"""

from __future__ import annotations

import dataclasses

from mappings.event import CallEvent, Direction, EventKind

TRIGGERS = frozenset({"missed", "voicemail", "noted", "answered", "outbound"})
DEFAULT_TRIGGERS = frozenset({"missed", "voicemail", "noted"})
_OUTBOUND_ENDINGS = frozenset(
    {EventKind.MISSED_CALL, EventKind.CALL_ENDED, EventKind.COMMENT}
)


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether an event makes a ticket, and the reason a person can read."""

    ticket: bool
    reason: str


def parse_triggers(value: str) -> frozenset[str]:
    """Read a comma-separated trigger list such as ``missed,voicemail``.

    :raises ValueError: when a name is not one of :data:`TRIGGERS`.
    """
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = names - TRIGGERS
    if unknown:
        raise ValueError(
            f"Unknown ticket trigger(s) {sorted(unknown)!r}; "
            f"expected some of {sorted(TRIGGERS)!r}."
        )
    return names


def decide(event: CallEvent, triggers: frozenset[str] = DEFAULT_TRIGGERS) -> Decision:
    """Say whether ``event`` alone makes its call worth a ticket."""
    if event.direction is Direction.INTERNAL:
        return Decision(False, "internal calls do not make tickets")
    if event.direction is Direction.OUTBOUND:
        return _decide_outbound(event, triggers)

    trigger = _trigger(event)
    if trigger is None:
        return Decision(False, _why_not(event))
    if trigger not in triggers:
        if trigger == "answered" and event.answered:
            return Decision(False, "answered calls without notes do not make tickets")
        if trigger == "answered":
            return Decision(False, "a call that ended does not make a ticket alone")
        return Decision(False, f"'{trigger}' is not one of the ticket triggers")
    return Decision(True, trigger)


def _decide_outbound(event: CallEvent, triggers: frozenset[str]) -> Decision:
    """Outbound calls are one trigger of their own, answered or not: a
    call an agent made is logged as a ticket with its notes, or not at all."""
    if "outbound" not in triggers:
        return Decision(False, "outbound calls do not make tickets")
    if event.kind in _OUTBOUND_ENDINGS or event.comments:
        return Decision(True, "outbound")
    return Decision(False, _why_not(event))


def _trigger(event: CallEvent) -> str | None:
    kind = event.kind
    if kind is EventKind.MISSED_CALL:
        return "missed"
    if kind is EventKind.VOICEMAIL:
        return "voicemail"
    if kind is EventKind.TRANSCRIPTION and event.answered is not True:
        return "voicemail"
    if kind is EventKind.COMMENT or (event.comments and kind is EventKind.CALL_ENDED):
        return "noted"
    if kind is EventKind.CALL_ENDED:
        return "answered"
    return None


def _why_not(event: CallEvent) -> str:
    if event.kind is EventKind.RECORDING:
        return "a call recording alone does not make a ticket"
    if event.kind is EventKind.TRANSCRIPTION:
        return "a transcript of an answered call does not make a ticket"
    status = f" ({event.status})" if event.status else ""
    return f"intermediate status{status} does not make a ticket"
