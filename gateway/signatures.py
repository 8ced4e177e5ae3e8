"""Proving a webhook comes from its vendor, one scheme per vendor.

Every check fails closed: a missing header, a missing secret or a malformed
value is a refusal, never a pass. Several secrets may be configured at once
(comma-separated) so a secret can be rotated without refusing webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

from flask import Request

from gateway.errors import BadSignature
from gateway.payloads import Body

Verifier = Callable[[Request, Body, Sequence[str], str], str | None]
"""A verifier returns the request's own signature, if the scheme has one,
so that it can be held to vouch for one event only."""


def verify_twilio(
    request: Request, body: Body, secrets: Sequence[str], public_url: str
) -> str:
    """Check ``X-Twilio-Signature``: HMAC-SHA1 over the URL and sorted fields.

    Twilio signs the URL it called, which behind a TLS-terminating proxy is
    not the URL this process sees; it is rebuilt from ``PUBLIC_URL`` or the
    proxy's ``X-Forwarded-*`` headers (as :func:`gateway.create_app` trusts
    them). Twilio is inconsistent about default
    ports, so the URL is tried with and without one.
    """
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        raise BadSignature("The X-Twilio-Signature header is missing.")

    names = [name for name, _ in body.pairs]
    if len(names) != len(set(names)):
        # The signature sorts repeated fields, so their order is unsigned,
        # while the first value is the one read. Twilio sends each once.
        raise BadSignature("A field is repeated; Twilio sends each field once.")

    url = signed_url(request, public_url)
    params: Sequence[tuple[str, str]] = body.pairs
    body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
    if body_hash:
        _check_body_hash(body.raw, body_hash[0])
        params = ()
    elif request.method == "GET":
        params = ()
    elif body.fields and not body.pairs:
        # Only form fields are covered by the signature; a JSON body is
        # covered only through bodySHA256, without which it is unsigned.
        raise BadSignature(
            "A JSON body from Twilio needs bodySHA256 in the URL; without it "
            "the body is not covered by X-Twilio-Signature."
        )

    for secret in secrets:
        for candidate in _port_variants(url):
            expected = twilio_signature(secret, candidate, params)
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return signature
    raise BadSignature(
        "The X-Twilio-Signature does not match the request. Check "
        "TWILIO_AUTH_TOKEN, and that PUBLIC_URL (or else the Host and "
        "X-Forwarded-Proto headers) gives the exact URL configured in Twilio."
    )


def twilio_signature(
    secret: str, url: str, params: Sequence[tuple[str, str]] = ()
) -> str:
    """The signature Twilio sends for ``url`` and form ``params``."""
    message = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_url(request: Request, public_url: str) -> str:
    """The URL the vendor called, as it saw it."""
    target = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
    if public_url:
        return public_url + target
    return f"{request.scheme}://{request.host}{target}"


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if parts.port is None and default:
        with_port = parts._replace(netloc=f"{parts.netloc}:{default}")
        return [url, urlunsplit(with_port)]
    if parts.port == default and parts.hostname:
        return [url, urlunsplit(parts._replace(netloc=parts.hostname))]
    return [url]


def _check_body_hash(raw: bytes, expected: str) -> None:
    actual = hashlib.sha256(raw).hexdigest()
    if not hmac.compare_digest(actual.encode(), expected.lower().encode()):
        raise BadSignature(
            "The body does not match the bodySHA256 in the URL; it was changed "
            "on the way or the URL is not Twilio's."
        )


def verify_aircall(
    request: Request, body: Body, secrets: Sequence[str], public_url: str
) -> None:
    """Compare the ``token`` Aircall puts inside every JSON payload."""
    token = body.fields.get("token")
    if not isinstance(token, str) or not token:
        raise BadSignature(
            "The payload has no 'token' field; Aircall always sends one."
        )
    _match_secret(
        token, secrets, "The Aircall token does not match AIRCALL_WEBHOOK_TOKEN."
    )


def verify_voicenter(
    request: Request, body: Body, secrets: Sequence[str], public_url: str
) -> None:
    """Compare the secret token in the URL: Voicenter signs nothing.

    The token is taken from the path (``/webhooks/voicenter/<token>``) or
    from ``?token=``.
    """
    view_args = request.view_args or {}
    token = view_args.get("token") or request.args.get("token", "")
    if not token:
        raise BadSignature(
            "No token in the URL; use /webhooks/voicenter/<token> or ?token=."
        )
    _match_secret(token, secrets, "The URL token does not match VOICENTER_URL_TOKEN.")


def _match_secret(given: str, secrets: Sequence[str], message: str) -> None:
    for secret in secrets:
        if hmac.compare_digest(given.encode(), secret.encode()):
            return
    raise BadSignature(message)
