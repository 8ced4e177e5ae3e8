"""What every vendor schema shares: the region for phones and a few fields.

A vendor schema loads the vendor's own payload (keys as the vendor spells
them, via ``data_key``) and returns our :class:`~mappings.event.CallEvent`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from mappings.event import CallEvent


class VendorSchema(Schema):
    """Base of the vendor schemas.

    Unknown keys are dropped: vendors add fields without notice, and a new
    field must never turn a good webhook into a 400.
    """

    vendor = ""

    class Meta:
        unknown = EXCLUDE

    def __init__(self, region: str = "IL", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.region = region

    def load_event(self, payload: Any) -> CallEvent:
        """Validate ``payload`` and return the event it describes."""
        event: CallEvent = self.load(payload)
        return event


ID_LIMIT = 200
MAX_NESTING = 32
_YEAR_3000 = 32503680000.0


class IdString(fields.Field[str]):
    """An id kept as text whatever JSON type the vendor used.

    Aircall sends call ids as JSON numbers; a float would silently round a
    large one, so only integers and strings are accepted.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError(
                f"Expected an id as a string or whole number, got {value!r}."
            )
        text = str(value).strip()
        if not text:
            raise ValidationError("Expected a non-empty id.")
        if len(text) > ID_LIMIT:
            raise ValidationError(
                f"Expected an id of at most {ID_LIMIT} characters, got {len(text)}."
            )
        if not text.isprintable():
            raise ValidationError("Expected an id without control characters.")
        return text


class EpochTime(fields.Field[datetime | None]):
    """Unix seconds (number or digits) to an aware UTC datetime."""

    def _deserialize(
        self, value: Any, attr: Any, data: Any, **kwargs: Any
    ) -> datetime | None:
        if value in (None, "", 0, "0"):
            return None
        try:
            seconds = float(value)
        except OverflowError:
            seconds = float("inf")
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"Expected Unix seconds, got {value!r:.40}.") from exc
        if isinstance(value, bool) or not 0 < seconds < _YEAR_3000:
            raise ValidationError(
                f"Expected Unix seconds between 1970 and 3000, got {value!r:.40}."
            )
        return datetime.fromtimestamp(seconds, tz=UTC)


class Seconds(fields.Field[int | None]):
    """A duration in whole seconds, rounded from whatever number a vendor
    sends (``41``, ``"41"``, ``1.5``); empty means not known.

    A fraction is no reason to refuse a call record, and truncating one
    would shorten every call.
    """

    def _deserialize(
        self, value: Any, attr: Any, data: Any, **kwargs: Any
    ) -> int | None:
        if value == "":
            return None
        try:
            seconds = float(value)
        except (TypeError, ValueError, OverflowError):
            seconds = float("nan")
        if isinstance(value, bool) or not 0 <= seconds < _YEAR_3000:
            raise ValidationError(f"Expected a duration in seconds, got {value!r:.40}.")
        return int(seconds + 0.5)


class Text(fields.Field[str]):
    """Free text that a vendor may also send as a number or as null.

    Voicenter's JSON CDRs carry phones and ids as numbers on some accounts
    and ``null`` for parts a call did not have; refusing those would make
    Voicenter resend a good record forever.
    """

    def deserialize(
        self, value: Any, attr: Any = None, data: Any = None, **kwargs: Any
    ) -> str:
        return super().deserialize("" if value is None else value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError(
                f"Expected text or a whole number, got {value!r:.40}."
            )
        return text(value)


class JsonText(fields.Field[Any]):
    """A structure that may come as JSON text inside a form field.

    Form-encoded Voicenter CDRs carry nested parts such as ``IVR`` as JSON
    strings; the JSON variant carries them as real objects.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            loaded = json.loads(value)
        except RecursionError as exc:
            raise ValidationError(
                "Expected JSON text, got one nested too deeply."
            ) from exc
        except ValueError as exc:
            raise ValidationError(f"Expected JSON text, got {value[:40]!r}.") from exc
        problem = json_problem(loaded)
        if problem:
            raise ValidationError(f"Expected JSON text, got one that {problem}.")
        return loaded


def json_problem(value: Any) -> str:
    """Say what makes parsed JSON unfit to keep and send on, or ``""``.

    Python's parser accepts nesting until its stack runs out, and lone
    UTF-16 surrogates (``"\\ud800"``), which are not text: either would
    fail only later, while the ticket is written.
    """
    depth, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, str):
            if not item.isascii() and _has_surrogate(item):
                return "holds a lone UTF-16 surrogate (half a character)"
            continue
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth = max(depth, level)
        if depth > MAX_NESTING:
            return f"is nested more than {MAX_NESTING} levels deep"
        pending.extend((child, level + 1) for child in children)
    return ""


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def rfc2822_time(value: str) -> datetime | None:
    """An RFC 2822 date (Twilio's ``Timestamp``, HTTP's ``Retry-After``) as an
    aware datetime; one without a zone is UTC. ``None`` when unreadable or
    outside 1970 to 3000."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 1970 < moment.year < 3000:
        return None
    return moment


def text(value: Any) -> str:
    """A vendor value as clean text: ``None`` becomes ``""``."""
    if value is None:
        return ""
    return str(value).strip()
