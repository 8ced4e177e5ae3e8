"""Making secrets, phones and untrusted text safe to log.

Logs end up in places with weaker access rules than the database: a log
drain, a support ticket, a screenshot. Phones and e-mails are personal data
and secrets are secrets; neither is ever logged whole.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, urlsplit

from mappings.registry import SCHEMAS

# A webhook URL: ``/webhooks/`` (any letter of it may be percent-encoded, as
# the server decodes them before routing), then everything up to the end of
# the URL: the vendor, a path token, a query with a token or a caller.
_WEBHOOKS = "".join(f"(?:{letter}|%{ord(letter):02x})" for letter in "webhooks")
_WEBHOOK_URL = re.compile(rf"(/{_WEBHOOKS}(?:/|%2f))([^\s\"]*)", re.IGNORECASE)
_VENDOR_NAME = re.compile(r"[a-z0-9]+", re.IGNORECASE)
# Seven or more digits, as people separate them: 050-000-1234, 052/123/4567.
_DIGITS = r"\d[\d\s()./-]{5,}\d"
_PHONE_LIKE = re.compile(rf"\+?{_DIGITS}")
_INTERNATIONAL = re.compile(rf"\+{_DIGITS}")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])(?:token|%74oken)=)[^&\s\"]+", re.IGNORECASE)


def mask_secret(value: str) -> str:
    """Show only that a secret is there and how long it is."""
    if not value:
        return "<none>"
    return f"<secret:{len(value)} chars>"


def mask_phone(value: str) -> str:
    """Keep the last two digits, enough to tell calls apart in a log."""
    digits = re.sub(r"\D", "", value)
    if len(digits) < 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_email(value: str) -> str:
    name, at, domain = value.partition("@")
    if not at:
        return mask_secret(value)
    return f"{name[:1]}***@{domain}"


def mask_numbers(text: str) -> str:
    """Mask every phone-like run of digits and every e-mail in free text.

    Error messages quote what the vendor sent, which may be a phone number
    or an address; the answer to the vendor keeps it, the log does not.
    """
    return _mask_personal(text, _PHONE_LIKE)


def _mask_personal(text: str, phones: re.Pattern[str]) -> str:
    text = phones.sub(_mask_phone_like, text)
    return _EMAIL.sub(lambda m: mask_email(m.group()), text)


def _mask_phone_like(match: re.Match[str]) -> str:
    # An IP address in a network error says where the CRM could not be
    # reached; it is nobody's phone.
    if _IPV4.fullmatch(match.group()):
        return match.group()
    return mask_phone(match.group())


def mask_id(value: str, limit: int = 120) -> str:
    """A vendor's id, fit for a log line.

    Ids are how an operator finds an event, so their digits stay; only
    what is plainly personal goes: an e-mail address, or a number written
    with its ``+`` country code.
    """
    return _mask_personal(clean(value, limit), _INTERNATIONAL)


def mask_url(url: str) -> str:
    """Hide what a URL may carry that is secret or personal.

    For webhook URLs everything past a known vendor's name goes: Voicenter's
    token in the path and Twilio's GET callbacks with the caller's number in
    the query. A name that is no vendor goes too: it may be a token sent to
    the wrong place. Elsewhere ``token=`` values go.
    """
    url = _WEBHOOK_URL.sub(_mask_webhook, url)
    return _TOKEN_IN_QUERY.sub(r"\1***", url)


def mask_path(path: str) -> str:
    """A request's decoded path, fit for a log line.

    Decoded, a path may hold spaces and line breaks, where :func:`mask_url`
    would stop masking; percent-encoded again, it is one word.
    """
    return mask_url(quote(path, safe="/!$&'()*+,;=:@-._~"))


def _mask_webhook(match: re.Match[str]) -> str:
    prefix, rest = match.groups()
    name = _VENDOR_NAME.match(rest)
    vendor = name.group() if name and name.group().lower() in SCHEMAS else ""
    tail = rest[len(vendor) :]
    if not tail:
        return prefix + vendor
    separator = tail[0] if vendor and tail[0] in "/?" else ""
    return f"{prefix}{vendor}{separator}***"


def shown_url(url: str) -> str:
    """``url`` fit for a message or a log: any user and password masked."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def clean(value: object, limit: int = 200) -> str:
    """Escape control and bidi characters so vendor text cannot forge or
    disguise log lines."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class UrlSecretFilter(logging.Filter):
    """Masks URL secrets in records of loggers we do not control.

    Servers and Flask log request paths (access lines, "Exception on
    /webhooks/voicenter/<token>"), and with Voicenter the path holds the
    token.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            # gunicorn's access log passes its request fields as a mapping.
            record.args = {key: _masked(arg) for key, arg in record.args.items()}
        if isinstance(record.msg, str):
            record.msg = mask_url(record.msg)
        return True


def _masked(value: object) -> object:
    return mask_url(value) if isinstance(value, str) else value
