"""What every vendor schema shares: the region for phones and a few fields.

A vendor schema loads the vendor's own payload (keys as the vendor spells
them, via ``data_key``) and returns our :class:`~mappings.event.CallEvent`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
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
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"Expected Unix seconds, got {value!r}.") from exc
        if isinstance(value, bool) or not 0 < seconds < _YEAR_3000:
            raise ValidationError(
                f"Expected Unix seconds between 1970 and 3000, got {value!r}."
            )
        return datetime.fromtimestamp(seconds, tz=UTC)


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
            return json.loads(value)
        except RecursionError as exc:
            raise ValidationError(
                "Expected JSON text, got one nested too deeply."
            ) from exc
        except ValueError as exc:
            raise ValidationError(f"Expected JSON text, got {value[:40]!r}.") from exc


def text(value: Any) -> str:
    """A vendor value as clean text: ``None`` becomes ``""``."""
    if value is None:
        return ""
    return str(value).strip()
