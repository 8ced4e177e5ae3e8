"""Reading a webhook body into fields, before anything trusts it.

The raw bytes are kept: Twilio's signature is computed over the form fields
exactly as sent, and the stored event keeps the body for replay and audit.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import parse_qsl

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from gateway.errors import BadPayload, UnsupportedBody
from mappings.base import json_problem

_FORM = "application/x-www-form-urlencoded"

# How servers report a body whose framing is broken: Werkzeug's development
# server raises OSError, gunicorn its own parse errors.
_UNREADABLE: tuple[type[Exception], ...] = (OSError, ValueError)
try:
    from gunicorn.http.errors import ParseException
except ImportError:  # gunicorn runs on Unix only; the dev server still works
    pass
else:
    _UNREADABLE = (*_UNREADABLE, ParseException)


@dataclasses.dataclass(frozen=True)
class Body:
    """A webhook body: raw bytes, and the fields read from them.

    ``pairs`` holds the form fields in order, repeats included, as the
    signature needs them; ``fields`` is what the vendor schema loads.
    """

    raw: bytes
    content_type: str
    fields: dict[str, Any]
    pairs: tuple[tuple[str, str], ...] = ()


def read_body(request: Request, limit: int | None = None) -> Body:
    """Read the body (or for GET, the query string) into fields.

    A body is JSON when its type says so, or when it is not declared a form
    and starts like JSON; otherwise it is read as a form.

    :param limit: most bytes accepted, also for chunked bodies that carry no
        ``Content-Length``.
    :raises BadPayload: for JSON that does not parse or is not an object,
        and for text that is not UTF-8.
    :raises UnsupportedBody: for multipart and XML bodies.
    :raises RequestEntityTooLarge: for a body over ``limit``.
    """
    raw = _raw_body(request, limit)
    content_type = request.mimetype or ""

    if request.method == "GET":
        # A GET callback's fields are its query string; that is what the
        # vendor signed and what is kept as the event's body.
        query = request.query_string
        return _form(query, "", _text(query, "query string"))
    if content_type in ("multipart/form-data", "text/xml", "application/xml"):
        raise UnsupportedBody(
            f"Bodies of type {content_type!r} are not read here; send JSON "
            "(application/json) or a form (application/x-www-form-urlencoded)."
        )

    text = _text(raw, "body")
    looks_like_json = text.lstrip().startswith(("{", "["))
    if content_type.endswith("json") or (content_type != _FORM and looks_like_json):
        return _json(raw, content_type, text)
    return _form(raw, content_type, text)


def _raw_body(request: Request, limit: int | None) -> bytes:
    """The body's bytes, refusing more than ``limit`` however it is framed.

    With ``Content-Length`` the framework enforces the limit before reading;
    a chunked body has none, and would otherwise be cut at the limit and
    read as if it were whole.
    """
    chunked = request.environ.get("wsgi.input_terminated", False)
    try:
        if limit is None or request.content_length is not None or not chunked:
            return _declared_body(request)

        # Werkzeug's own limit on such a stream stops at the limit without
        # saying so; read the server's stream directly to see what lies past.
        raw: bytes = request.environ["wsgi.input"].read(limit + 1)
    except _UNREADABLE as exc:
        raise BadPayload(
            "The body could not be read: its chunked framing is broken, or the "
            "connection closed before it ended."
        ) from exc
    if len(raw) > limit:
        raise RequestEntityTooLarge()
    return raw


def _declared_body(request: Request) -> bytes:
    """The body, refused when it ends before its ``Content-Length`` says.

    A server that marks its input as terminated (gunicorn) hands over what
    arrived before the connection closed; a cut record would otherwise be
    stored, and the vendor's full retry answered as its duplicate.
    """
    raw = request.get_data(cache=True)
    declared = request.content_length
    if declared is not None and len(raw) < declared:
        raise BadPayload(
            f"The body ended after {len(raw)} of the {declared} bytes its "
            "Content-Length declares; send it again whole."
        )
    return raw


def _text(raw: bytes, what: str) -> str:
    """``raw`` as UTF-8 text without NUL characters, which no field may hold
    (PostgreSQL cannot store them, and no vendor sends them)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload(
            f"The {what} is not UTF-8 text (bad byte at position {exc.start})."
        ) from exc
    if "\x00" in text or "\\u0000" in text or "%00" in text:
        raise BadPayload(f"The {what} holds a NUL character, which no field may hold.")
    return text


def _json(raw: bytes, content_type: str, text: str) -> Body:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadPayload(f"The body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:
        raise BadPayload("The body's JSON is nested too deeply.") from exc
    if not isinstance(data, dict):
        raise BadPayload(f"Expected a JSON object, got a JSON {type(data).__name__}.")
    problem = json_problem(data)
    if problem:
        raise BadPayload(f"The body's JSON {problem}.")
    return Body(raw=raw, content_type=content_type, fields=data)


def _form(raw: bytes, content_type: str, text: str) -> Body:
    try:
        pairs = tuple(parse_qsl(text, keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError as exc:
        raise BadPayload(
            "A form field has a percent-escape that is not UTF-8 "
            f"(bad byte at position {exc.start} of the field)."
        ) from exc
    fields: dict[str, Any] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return Body(raw=raw, content_type=content_type, fields=fields, pairs=pairs)
