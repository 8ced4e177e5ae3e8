"""Vendor payloads to our call event, and call events to a ticket.

Nothing here does I/O: no web framework, no HTTP client, no database. The
gateway hands in a parsed payload and gets back plain values.
"""

from mappings.event import CallEvent, Direction, EventKind
from mappings.registry import SCHEMAS, schema_for

__all__ = ["SCHEMAS", "CallEvent", "Direction", "EventKind", "schema_for"]
