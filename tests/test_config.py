"""Settings from the environment, and clear errors for bad ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.config import (
    DEMO_SETTINGS,
    SANDBOX_STATUS_ID,
    database_url,
    load_settings,
    use_demo_defaults,
)
from gateway.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
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


def use_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_TOKEN_URL", "https://crm.example.com/oauth/token")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "ringdesk")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "client-secret")


def test_real_api_needs_its_oauth_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_API_URL", "https://crm.example.com/")
    monkeypatch.setenv("TICKET_STATUS_ID", "42")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "ringdesk")

    with pytest.raises(
        ConfigError,
        match="TICKETS_API_URL is set but OAUTH_TOKEN_URL, OAUTH_CLIENT_SECRET are not",
    ):
        load_settings()


def test_real_api_needs_its_own_status_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_API_URL", "https://crm.example.com/")
    use_oauth(monkeypatch)

    with pytest.raises(ConfigError, match="TICKET_STATUS_ID is required"):
        load_settings()

    monkeypatch.setenv("TICKET_STATUS_ID", "42")
    settings = load_settings()
    assert settings.tickets_api_url == "https://crm.example.com"
    assert settings.default_route.status == "42"


def test_secrets_can_be_rotated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "new-twilio-token-1,old-twilio-token-0")
    monkeypatch.setenv("ALLOW_UNSIGNED", "voicenter")

    settings = load_settings()

    assert settings.secrets["twilio"] == ("new-twilio-token-1", "old-twilio-token-0")
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
        ("DATABASE_URL", "user:pw@host/db", "DATABASE_URL is not a database URL"),
        ("DATABASE_URL", "mysql://db.example.com/x", "names a 'mysql' database"),
        ("PUBLIC_URL", "gw.example.com", "PUBLIC_URL is 'gw.example.com'"),
        ("TICKET_ON", ",", "TICKET_ON names no trigger"),
        (
            "SETTLE_SECONDS_TWILIO",
            "1e20",
            "SETTLE_SECONDS_TWILIO is 1e\\+20; expected a number from 0 to 86400",
        ),
        ("WORKER_POLL_SECONDS", "0", "WORKER_POLL_SECONDS is 0; expected"),
        ("ROUTING_RULES", '[{"set": {"owner": null}}]', "not an id"),
        ("LOG_LEVEL", "verbose", "LOG_LEVEL is 'verbose'; expected DEBUG"),
        ("DATABASE_URL", "sqlite://", "a database in memory"),
        ("DATABASE_URL", "sqlite:///:memory:", "a database in memory"),
        ("DATABASE_URL", "sqlite:////no/such/dir/x.db", "'/no/such/dir', which is"),
        ("PUBLIC_URL", "https://gw.example.com/?a=1", "without user, query"),
        ("PUBLIC_URL", "https://gw.example.com/#top", "without user, query"),
        ("PUBLIC_URL", "https://gw.example.com/ x", "without user, query"),
        ("PUBLIC_URL", "https://u:pw@gw.example.com", "'https://\\*\\*\\*@gw"),
        ("PUBLIC_URL", "https://gw.example.com:99999", "without user, query"),
        ("TICKETS_API_URL", "https://crm.example.com:99999", "names no host and port"),
        ("VOICENTER_URL_TOKEN", "Zq8rT3vLx0pWm2Ns,7", "a secret of 1 character"),
        ("AIRCALL_WEBHOOK_TOKEN", "short", "AIRCALL_WEBHOOK_TOKEN holds a secret"),
        ("RETRY_MAX_SECONDS", "1", "RETRY_MAX_SECONDS is 1; expected a number from 5"),
    ],
)
def test_bad_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match=message):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETRY_MAX_ATTEMPTS", "-1"),
        ("RETRY_MAX_ATTEMPTS", "5000"),
        ("MAX_BODY_BYTES", "0"),
        ("SETTLE_SECONDS_TWILIO", "-1"),
        ("LEASE_SECONDS", "1e12"),
        ("PROXY_HOPS", "-1"),
        ("RETRY_BASE_SECONDS", "0"),
        ("RETRY_UNANSWERED_MAX", "-1"),
    ],
)
def test_numbers_out_of_range_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match=f"{name} is .*; expected a number from"):
        load_settings()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://crm.example.com", "expected an https:// URL"),
        ("ftp://crm.example.com", "expected an https:// URL"),
        ("crm.example.com", "which names no host"),
        ("https://", "which names no host"),
        ("https://crm.example.com:99999", "which names no host and port"),
    ],
)
def test_tickets_api_must_be_https_unless_local(
    monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("TICKETS_API_URL", url)
    monkeypatch.setenv("TICKET_STATUS_ID", "1")
    use_oauth(monkeypatch)

    with pytest.raises(ConfigError, match=message):
        load_settings()

    monkeypatch.setenv("TICKETS_API_URL", "http://127.0.0.1:8001")
    assert load_settings().tickets_api_url == "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # The README's demo secrets must never guard a real CRM.
        (
            {"AIRCALL_WEBHOOK_TOKEN": DEMO_SETTINGS["AIRCALL_WEBHOOK_TOKEN"]},
            "AIRCALL_WEBHOOK_TOKEN is the README's",
        ),
        # A blank status id is no status id.
        ({"TICKET_STATUS_ID": "  "}, "TICKET_STATUS_ID is required"),
    ],
)
def test_real_crm_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("TICKETS_API_URL", "https://crm.example.com")
    monkeypatch.setenv("TICKET_STATUS_ID", "1")
    for name, value in changes.items():
        monkeypatch.setenv(name, value)
    use_oauth(monkeypatch)

    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_errors_never_show_passwords_in_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETS_API_URL", "http://user:hunter2@crm.example.com")
    monkeypatch.setenv("TICKET_STATUS_ID", "1")
    use_oauth(monkeypatch)

    with pytest.raises(ConfigError) as info:
        load_settings()

    assert "'http://***@crm.example.com'" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_values_are_taken_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A secret with a dollar sign is not a variable to expand."""
    (tmp_path / ".env").write_text("OAUTH_CLIENT_SECRET=p${NOPE}w-from-dotenv\n")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tw-${HOME}-0123456789")

    settings = load_settings()

    assert settings.secrets["twilio"] == ("tw-${HOME}-0123456789",)
    assert settings.oauth_client_secret == "p${NOPE}w-from-dotenv"


def test_secret_lists_may_have_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-token-one, twilio-token-two ,")

    secrets = load_settings().secrets["twilio"]
    assert secrets == ("twilio-token-one", "twilio-token-two")


def test_dotenv_is_read_from_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("PUBLIC_URL=https://gw.example.com\n")
    monkeypatch.setenv("PUBLIC_URL", "restored-after-the-test")
    monkeypatch.delenv("PUBLIC_URL")

    assert load_settings().public_url == "https://gw.example.com"


def test_demo_defaults_fill_only_what_is_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("TWILIO_AUTH_TOKEN=twilio-from-dotenv\n")
    monkeypatch.setenv("SETTLE_SECONDS_AIRCALL", "2")
    for name in DEMO_SETTINGS:
        monkeypatch.setenv(name, os.environ.get(name, "restored-after-the-test"))
        if name != "SETTLE_SECONDS_AIRCALL":
            monkeypatch.delenv(name)

    filled = use_demo_defaults()
    settings = load_settings()

    assert "TWILIO_AUTH_TOKEN" not in filled
    assert settings.secrets["twilio"] == ("twilio-from-dotenv",)
    assert settings.secrets["voicenter"] == (DEMO_SETTINGS["VOICENTER_URL_TOKEN"],)
    assert settings.settle_for("aircall") == 2.0
    assert settings.settle_for("twilio") == 15.0


def test_demo_defaults_never_open_a_gateway_to_a_real_crm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKETS_API_URL", "https://crm.example.com")

    assert use_demo_defaults() == []
    assert "VOICENTER_URL_TOKEN" not in os.environ
