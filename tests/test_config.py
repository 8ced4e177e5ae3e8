"""Settings from the environment, and clear errors for bad ones."""

from __future__ import annotations

import pytest

from gateway.config import SANDBOX_STATUS_ID, ConfigError, database_url, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(
            ("TWILIO_", "AIRCALL_", "VOICENTER_", "TICKET", "OAUTH_", "SETTLE_")
        ) or name in (
            "ALLOW_UNSIGNED",
            "DATABASE_URL",
            "DEFAULT_REGION",
            "TIMEZONE",
            "PHONE_FORMAT",
            "ROUTING_RULES",
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]


def test_heroku_postgres_url_uses_psycopg() -> None:
    assert (
        database_url("postgres://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    )
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_defaults_are_safe() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite:///ringdesk.db"
    assert settings.open_vendors() == []
    assert settings.uses_sandbox
    assert settings.default_route.status == SANDBOX_STATUS_ID
    assert settings.style.region == "IL"


def test_real_api_needs_its_own_status_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_API_URL", "https://crm.example.com/")

    settings = load_settings()

    assert settings.tickets_api_url == "https://crm.example.com"
    assert settings.default_route.status == ""


def test_secrets_can_be_rotated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "new,old")
    monkeypatch.setenv("ALLOW_UNSIGNED", "voicenter")

    settings = load_settings()

    assert settings.secrets["twilio"] == ("new", "old")
    assert settings.open_vendors() == ["twilio", "voicenter"]


def test_triggers_per_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_ON_AIRCALL", "missed,answered")

    settings = load_settings()

    assert settings.triggers_for("aircall") == {"missed", "answered"}
    assert settings.triggers_for("twilio") == {"missed", "voicemail", "noted"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEFAULT_REGION", "XX", "DEFAULT_REGION is 'XX'"),
        ("TIMEZONE", "Mars/Base", "TIMEZONE is 'Mars/Base'"),
        ("PHONE_FORMAT", "pretty", "PHONE_FORMAT is 'pretty'"),
        ("ALLOW_UNSIGNED", "skype", "ALLOW_UNSIGNED names unknown vendor"),
        ("TICKET_ON", "missed,sometimes", "Unknown ticket trigger"),
        ("ROUTING_RULES", "[1]", "Routing rule #1"),
        ("RETRY_MAX_ATTEMPTS", "many", "RETRY_MAX_ATTEMPTS"),
    ],
)
def test_bad_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match=message):
        load_settings()
