"""Caller phones: every vendor spelling to E.164, and E.164 to the CRM's form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.phones import crm_phone, display_phone, is_hidden, to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0500001234", "+972500001234"),
        ("972500001234", "+972500001234"),
        ("+972 50-000-1234", "+972500001234"),
        ("00972500001234", "+972500001234"),
        ("+1 555-010-0123", "+15550100123"),
        ("+15550100123", "+15550100123"),
        ("(+44) 7700 900123", "+447700900123"),
        ("035550123", "+97235550123"),
    ],
)
def test_vendor_spellings_become_e164(raw: str, expected: str) -> None:
    assert to_e164(raw, "IL") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "RESTRICTED",
        "unknown",
        "private",
        "unavailable",
        "+266696687",
        "+7378742833",
        "+8656696",
        "+2562533",
        "+86282452253",
    ],
)
def test_hidden_callers_have_no_phone(raw: str) -> None:
    assert is_hidden(raw)
    assert to_e164(raw, "IL") == ""


@pytest.mark.parametrize(
    "raw", ["EXT0001", "sip:agent@example.com", "client:alice", "12"]
)
def test_things_that_are_not_phones_have_no_phone(raw: str) -> None:
    assert to_e164(raw, "IL") == ""


def test_default_region_numbers_are_national_digits_for_the_crm() -> None:
    assert crm_phone("+972549255555", "IL") == "0549255555"


def test_foreign_numbers_stay_e164_for_the_crm() -> None:
    assert crm_phone("+15550100123", "IL") == "+15550100123"


def test_e164_style_keeps_every_number_e164() -> None:
    assert crm_phone("+972549255555", "IL", "e164") == "+972549255555"


def test_region_decides_what_is_national() -> None:
    assert crm_phone("+15550100123", "US") == "5550100123"
    assert crm_phone("+972549255555", "US") == "+972549255555"


def test_display_uses_national_dashes_at_home() -> None:
    assert display_phone("+972500001234", "IL") == "050-000-1234"
    assert display_phone("+15550100123", "IL") == "+1 555-010-0123"


@given(st.text(max_size=40))
def test_any_text_gives_e164_or_nothing(raw: str) -> None:
    result = to_e164(raw, "IL")

    assert result == "" or (result.startswith("+") and result[1:].isdigit())
    if result:
        assert crm_phone(result, "IL").lstrip("+").isdigit()


@given(st.integers(min_value=500000000, max_value=599999999))
def test_israeli_mobiles_round_trip_through_the_crm_form(number: int) -> None:
    national = f"0{number}"

    e164 = to_e164(national, "IL")

    assert e164 == f"+972{number}"
    assert crm_phone(e164, "IL") == national
