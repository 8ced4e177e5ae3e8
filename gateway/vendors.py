"""What the gateway needs to know about each vendor besides its schema.

Adding a vendor means a schema in ``mappings/``, a verifier in
:mod:`gateway.signatures`, and one entry here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from gateway.signatures import (
    Verifier,
    verify_aircall,
    verify_twilio,
    verify_voicenter,
)

Reply = Callable[[dict[str, Any], int], tuple[dict[str, Any], int]]


def plain_reply(body: dict[str, Any], status: int) -> tuple[dict[str, Any], int]:
    return body, status


def voicenter_reply(body: dict[str, Any], status: int) -> tuple[dict[str, Any], int]:
    """Voicenter's expected shape: ``Err`` 0 with a plain 200, or an error code.

    Anything but ``{"Err": 0, ...}`` with 200 makes Voicenter send the same
    record again; ``Err`` is 1 for a body it sent wrong, 2 for anything else.
    """
    if status < 300:
        return {"Err": 0, "Errdesc": "OK", **body}, 200
    code = 1 if status == 400 else 2
    return {"Err": code, "Errdesc": body.get("error", ""), **body}, status


@dataclasses.dataclass(frozen=True)
class Vendor:
    name: str
    verify: Verifier
    secret_setting: str
    settle_seconds: float = 0.0
    methods: tuple[str, ...] = ("POST",)
    reply: Reply = plain_reply


VENDORS: dict[str, Vendor] = {
    vendor.name: vendor
    for vendor in (
        # Status, recording and transcription callbacks of one call arrive
        # separately, the transcription often a minute after the hang-up.
        Vendor(
            "twilio",
            verify_twilio,
            "TWILIO_AUTH_TOKEN",
            settle_seconds=60.0,
            methods=("GET", "POST"),
        ),
        # call.ended comes ~30 s after the hang-up; comments may follow it.
        Vendor("aircall", verify_aircall, "AIRCALL_WEBHOOK_TOKEN", settle_seconds=45.0),
        # One complete CDR per call: nothing to wait for.
        Vendor(
            "voicenter", verify_voicenter, "VOICENTER_URL_TOKEN", reply=voicenter_reply
        ),
    )
}
