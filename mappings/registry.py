"""The vendors the gateway understands, by the name in their webhook URL."""

from __future__ import annotations

from mappings.aircall import AircallSchema
from mappings.base import VendorSchema
from mappings.twilio import TwilioSchema
from mappings.voicenter import VoicenterSchema

SCHEMAS: dict[str, type[VendorSchema]] = {
    "twilio": TwilioSchema,
    "aircall": AircallSchema,
    "voicenter": VoicenterSchema,
}


def schema_for(vendor: str, region: str) -> VendorSchema:
    """Return a schema that loads ``vendor`` payloads.

    :raises KeyError: when no vendor has that name.
    """
    return SCHEMAS[vendor](region=region)
