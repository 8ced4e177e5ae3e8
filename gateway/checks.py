"""Startup checks: settings that could never work stop the process at once.

Each check names the setting, shows the bad value (never a secret or a
password), and says what was expected. A gateway that starts is one whose
settings can deliver tickets; one that could only store webhooks that never
become tickets, or accept forged ones, does not start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gateway.errors import ConfigError
from gateway.redact import shown_url
from gateway.vendors import VENDORS

if TYPE_CHECKING:
    from gateway.config import Settings

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MIN_SECRET_LENGTH = 16
_DAY = 86400.0


def check(settings: Settings, public_secrets: frozenset[str] = frozenset()) -> None:
    """:param public_secrets: secrets printed in the README, for the demo.
    :raises ConfigError: naming the first setting that is wrong."""
    _check_numbers(settings)
    _check_secrets(settings, public_secrets)
    _check_database(settings.database_url)
    _check_public_url(settings.public_url)
    _check_delivery(settings)


def check_log_level(name: str) -> None:
    if not isinstance(logging.getLevelNamesMapping().get(name.upper()), int):
        raise ConfigError(
            f"LOG_LEVEL is {name!r}; expected DEBUG, INFO, WARNING or ERROR."
        )


def _check_numbers(settings: Settings) -> None:
    """Refuse numbers that would quietly break delivery or intake."""
    ranges: dict[str, tuple[float, float, float]] = {
        "HTTP_TIMEOUT_SECONDS": (settings.http_timeout, 0.1, 300),
        "LEASE_SECONDS": (settings.lease_seconds, 1, _DAY),
        "RETRY_MAX_ATTEMPTS": (settings.retry_max_attempts, 1, 100),
        "RETRY_UNANSWERED_MAX": (settings.retry_unanswered_max, 0, 100),
        "RETRY_BASE_SECONDS": (settings.retry_base_seconds, 0.1, 3600),
        "RETRY_MAX_SECONDS": (
            settings.retry_max_seconds,
            settings.retry_base_seconds,
            _DAY,
        ),
        "MAX_BODY_BYTES": (settings.max_body_bytes, 1, 100 * 1024 * 1024),
        "WORKER_POLL_SECONDS": (settings.poll_seconds, 0.01, 3600),
        "PROXY_HOPS": (settings.proxy_hops, 0, 10),
    }
    for vendor, seconds in settings.settle_seconds.items():
        ranges[f"SETTLE_SECONDS_{vendor.upper()}"] = (seconds, 0, _DAY)

    for name, (value, low, high) in ranges.items():
        if not low <= value <= high:
            raise ConfigError(
                f"{name} is {value:g}; expected a number from {low:g} to {high:g}."
            )


def _check_secrets(settings: Settings, public_secrets: frozenset[str]) -> None:
    """Refuse secrets short enough to guess, or known to all.

    A comma separates secrets, so a comma inside one splits it into parts
    that are each easier to guess than the whole.
    """
    local = urlsplit(settings.tickets_api_url).hostname in LOOPBACK
    for vendor, secrets in settings.secrets.items():
        setting = VENDORS[vendor].secret_setting
        if settings.tickets_api_url and not local and set(secrets) & public_secrets:
            raise ConfigError(
                f"{setting} is the README's demo secret, which anyone can read; "
                "with a tickets API beyond this machine, set the vendor's own "
                "secret."
            )
        short = [secret for secret in secrets if len(secret) < MIN_SECRET_LENGTH]
        if short:
            raise ConfigError(
                f"{setting} holds a secret of {len(short[0])} character(s); "
                f"expected at least {MIN_SECRET_LENGTH}. Commas separate "
                "several secrets, so a secret cannot contain one."
            )


def _check_database(url: str) -> None:
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except ArgumentError as exc:
        raise ConfigError(
            "DATABASE_URL is not a database URL (its value is not shown: it may "
            "hold a password); expected one such as sqlite:///ringdesk.db or "
            "postgres://user:password@host/db."
        ) from exc
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"DATABASE_URL names a {backend!r} database; expected SQLite "
            "(sqlite:///ringdesk.db) or PostgreSQL (postgres://...)."
        )
    if backend == "sqlite":
        _check_sqlite_file(parsed.database or "")


def _check_sqlite_file(path: str) -> None:
    if path in ("", ":memory:") or path.startswith("file::memory:"):
        raise ConfigError(
            f"DATABASE_URL is {'sqlite:///' + path!r}, a database in memory that "
            "each process has its own of and that loses every event when it "
            "stops; expected a file, such as sqlite:///ringdesk.db."
        )
    folder = Path(path).parent
    if not folder.is_dir():
        raise ConfigError(
            f"DATABASE_URL puts the SQLite file in {str(folder)!r}, which is not "
            "a folder that exists; create it or choose another path."
        )


def _check_public_url(url: str) -> None:
    parts = urlsplit(url)
    if url and (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not _valid_port(url)
        or "@" in parts.netloc
        or any(ch.isspace() for ch in url)
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(
            f"PUBLIC_URL is {shown_url(url)!r}; expected the base URL vendors "
            "call: a scheme and a host, without user, query or spaces, such as "
            "https://gw.example.com."
        )


def _check_delivery(settings: Settings) -> None:
    """Refuse a tickets API setup that could only make dead tickets."""
    if settings.uses_sandbox:
        return
    for name, url in (
        ("TICKETS_API_URL", settings.tickets_api_url),
        ("OAUTH_TOKEN_URL", settings.oauth_token_url),
    ):
        _check_api_url(name, url)

    missing = [
        name
        for name, value in (
            ("OAUTH_TOKEN_URL", settings.oauth_token_url),
            ("OAUTH_CLIENT_ID", settings.oauth_client_id),
            ("OAUTH_CLIENT_SECRET", settings.oauth_client_secret),
        )
        if not value
    ]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(
            f"TICKETS_API_URL is set but {', '.join(missing)} {verb} not: tickets are "
            "sent with the OAuth2 client-credentials grant, which needs all three "
            "OAUTH_* settings."
        )
    if not settings.default_route.status:
        raise ConfigError(
            "TICKET_STATUS_ID is required with TICKETS_API_URL: the tickets API "
            "refuses tickets without a status. Set it to a status id of your CRM."
        )


def _check_api_url(name: str, url: str) -> None:
    if not url:
        return
    parts = urlsplit(url)
    if not parts.hostname or not _valid_port(url):
        raise ConfigError(
            f"{name} is {shown_url(url)!r}, which names no host and port a "
            "connection could reach; expected a URL such as "
            "https://crm.example.com."
        )
    local = parts.scheme == "http" and parts.hostname in LOOPBACK
    if parts.scheme != "https" and not local:
        raise ConfigError(
            f"{name} is {shown_url(url)!r}; expected an https:// URL (plain "
            "http is only for a tickets API on this machine, such as the "
            "sandbox)."
        )


def _valid_port(url: str) -> bool:
    """Whether ``url``'s port, if it names one, is one (0 to 65535)."""
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return port is None or port >= 0
