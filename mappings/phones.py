"""Caller phone numbers: from whatever a vendor sends to E.164 and back.

Vendors send ``+1 555-010-0123`` (Aircall), ``%2B15550100123`` (Twilio),
``0500001234`` or ``972500001234`` (Voicenter), or words for a hidden
caller. A hidden caller must become "no phone", never a made-up number that
the CRM would then match against a real customer.
"""

from __future__ import annotations

import re

import phonenumbers

# Twilio turns withheld caller ids into the keypad spelling of a word
# (ANONYMOUS, RESTRICTED, UNKNOWN, BLOCKED, UNAVAILABLE) and sends it as if
# it were an E.164 number.
_KEYPAD_WORDS = frozenset(
    {"+266696687", "+7378742833", "+8656696", "+2562533", "+86282452253"}
)
_HIDDEN_WORDS = re.compile(
    r"^\s*(anonymous|restricted|unknown|private|unavailable|blocked|withheld)\s*$",
    re.IGNORECASE,
)
_IDD_PREFIXES = ("00", "011")


def to_e164(raw: str, region: str) -> str:
    """Return ``raw`` as E.164, or ``""`` when it is hidden or not a phone.

    :param region: ISO country code used for numbers written without a
        country code, such as Voicenter's ``0500001234``.
    """
    text = raw.strip()
    if is_hidden(text):
        return ""

    if re.search(r"[a-zA-Z@]", text):
        return ""

    candidate = _with_plus(text, region)
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return ""

    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_hidden(raw: str) -> bool:
    """Whether ``raw`` is how a vendor says the caller withheld the number."""
    text = raw.strip()
    return not text or text in _KEYPAD_WORDS or bool(_HIDDEN_WORDS.match(text))


def _with_plus(text: str, region: str) -> str:
    """Add the ``+`` that vendors such as Voicenter leave out of ``972...``.

    Only digits that start with the default region's country code and are
    too long to be a national number get it, so ``0500001234`` stays
    national.
    """
    digits = re.sub(r"[^\d+]", "", text)
    if digits.startswith("+"):
        return digits

    for prefix in _IDD_PREFIXES:
        if digits.startswith(prefix) and len(digits) > 10:
            return "+" + digits[len(prefix) :]

    code = str(phonenumbers.country_code_for_region(region))
    if digits.startswith(code) and not digits.startswith("0") and len(digits) > 10:
        return "+" + digits
    return digits


def crm_phone(e164: str, region: str, style: str = "national") -> str:
    """Write a number the way the CRM shows and matches it.

    Numbers of the default region become national digits (``0549255555``);
    numbers from abroad stay E.164 so they keep their country code.
    """
    if not e164 or style == "e164":
        return e164

    number = phonenumbers.parse(e164, None)
    if not _is_home(number, region):
        return e164

    national = phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.NATIONAL
    )
    return re.sub(r"\D", "", national)


def display_phone(e164: str, region: str) -> str:
    """Write a number for a person to read in a subject line."""
    number = phonenumbers.parse(e164, None)
    if _is_home(number, region):
        style = phonenumbers.PhoneNumberFormat.NATIONAL
    else:
        style = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def _is_home(number: phonenumbers.PhoneNumber, region: str) -> bool:
    """Whether ``number`` is dialled nationally from ``region``.

    Compared by country code rather than by region: made-up test numbers
    and new ranges have no region, but still belong to their country code.
    """
    return bool(number.country_code == phonenumbers.country_code_for_region(region))
