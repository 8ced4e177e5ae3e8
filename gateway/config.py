"""Settings, read once from the environment (and a ``.env`` file if present).

Every setting has a safe default except the secrets: a vendor whose secret
is missing is refused unless ``ALLOW_UNSIGNED`` names it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from dotenv import load_dotenv
from environs import Env, EnvError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gateway.vendors import VENDORS
from mappings.policy import DEFAULT_TRIGGERS, TRIGGERS, parse_triggers
from mappings.registry import SCHEMAS
from mappings.routing import Route, Rule, parse_rules
from mappings.ticket import TicketStyle

SANDBOX_STATUS_ID = "233476065495939904005866822871905093425"
DEFAULT_DATABASE_URL = "sqlite:///ringdesk.db"
_DAY = 86400.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

# What ``ringdesk serve --demo`` (``make run``) uses where nothing else is
# set: the secrets the README's curl examples are signed with, and settle
# windows short enough to watch.
DEMO_SETTINGS = {
    "TWILIO_AUTH_TOKEN": "demo-twilio-token",
    "AIRCALL_WEBHOOK_TOKEN": "fake-webhook-token-0001",
    "VOICENTER_URL_TOKEN": "demo-voicenter-token",
    "SETTLE_SECONDS_TWILIO": "15",
    "SETTLE_SECONDS_AIRCALL": "15",
}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    secrets: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    allow_unsigned: frozenset[str] = frozenset()
    public_url: str = ""
    proxy_hops: int = 1
    max_body_bytes: int = 1024 * 1024
    style: TicketStyle = dataclasses.field(default_factory=TicketStyle)
    default_route: Route = dataclasses.field(default_factory=Route)
    routing_rules: tuple[Rule, ...] = ()
    triggers: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    settle_seconds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    tickets_api_url: str = ""
    oauth_token_url: str = ""
    oauth_client_id: str = ""
    oauth_client_secret: str = ""
    http_timeout: float = 10.0
    retry_max_attempts: int = 8
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 900.0
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0

    @property
    def uses_sandbox(self) -> bool:
        return not self.tickets_api_url

    def triggers_for(self, vendor: str) -> frozenset[str]:
        return self.triggers.get(vendor, DEFAULT_TRIGGERS)

    def settle_for(self, vendor: str) -> float:
        return self.settle_seconds.get(vendor, 0.0)

    def open_vendors(self) -> list[str]:
        """Vendors that accept webhooks: those with a secret or allowed unsigned."""
        return [v for v in SCHEMAS if self.secrets.get(v) or v in self.allow_unsigned]


def database_url(value: str) -> str:
    """Accept Heroku's ``postgres://`` and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    return value


def read_dotenv() -> None:
    """Add the ``.env`` file of the working directory to the environment.

    Variables already set in the environment win over the file. The file
    goes into the process environment, not only into our settings, so that
    the command line's options (``PORT``, ``HOST``) see it too.
    """
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)


def use_demo_defaults() -> list[str]:
    """Fill in :data:`DEMO_SETTINGS` that neither the environment nor ``.env``
    set, so the README's examples work; return the names filled in.

    Only while tickets go to the built-in sandbox: the demo secrets are
    public, and must never open a gateway that reaches a real CRM.
    """
    read_dotenv()
    if os.environ.get("TICKETS_API_URL"):
        return []
    filled = [name for name in DEMO_SETTINGS if name not in os.environ]
    for name in filled:
        os.environ[name] = DEMO_SETTINGS[name]
    return filled


def load_settings() -> Settings:
    """Read :class:`Settings` from the process environment and ``.env``.

    :raises ConfigError: naming the variable that is wrong and why.
    """
    read_dotenv()
    env = Env(expand_vars=True)
    try:
        return _read(env)
    except (EnvError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def _read(env: Env) -> Settings:
    allow_unsigned: frozenset[str] = frozenset(env.list("ALLOW_UNSIGNED", []))
    unknown = allow_unsigned - set(SCHEMAS)
    if unknown:
        raise ConfigError(
            f"ALLOW_UNSIGNED names unknown vendor(s) {sorted(unknown)!r}; "
            f"expected some of {sorted(SCHEMAS)!r}."
        )

    tickets_api_url = env.str("TICKETS_API_URL", "").rstrip("/")
    settings = Settings(
        database_url=database_url(env.str("DATABASE_URL", DEFAULT_DATABASE_URL)),
        secrets={
            name: _secrets(env.list(vendor.secret_setting, []))
            for name, vendor in VENDORS.items()
        },
        allow_unsigned=allow_unsigned,
        public_url=env.str("PUBLIC_URL", "").rstrip("/"),
        proxy_hops=env.int("PROXY_HOPS", 1),
        max_body_bytes=env.int("MAX_BODY_BYTES", 1024 * 1024),
        style=_style(env),
        default_route=Route(
            department_id=env.str("TICKET_DEPARTMENT_ID", ""),
            priority_id=env.str("TICKET_PRIORITY_ID", ""),
            status=env.str(
                "TICKET_STATUS_ID", "" if tickets_api_url else SANDBOX_STATUS_ID
            ),
            owner=env.str("TICKET_OWNER_ID", ""),
        ),
        routing_rules=parse_rules(env.str("ROUTING_RULES", "")),
        triggers=_per_vendor_triggers(env),
        settle_seconds={
            name: env.float(f"SETTLE_SECONDS_{name.upper()}", vendor.settle_seconds)
            for name, vendor in VENDORS.items()
        },
        tickets_api_url=tickets_api_url,
        oauth_token_url=env.str("OAUTH_TOKEN_URL", ""),
        oauth_client_id=env.str("OAUTH_CLIENT_ID", ""),
        oauth_client_secret=env.str("OAUTH_CLIENT_SECRET", ""),
        http_timeout=env.float("HTTP_TIMEOUT_SECONDS", 10.0),
        retry_max_attempts=env.int("RETRY_MAX_ATTEMPTS", 8),
        retry_base_seconds=env.float("RETRY_BASE_SECONDS", 5.0),
        retry_max_seconds=env.float("RETRY_MAX_SECONDS", 900.0),
        lease_seconds=env.float("LEASE_SECONDS", 60.0),
        poll_seconds=env.float("WORKER_POLL_SECONDS", 1.0),
    )
    _check_numbers(settings)
    _check_database(settings.database_url)
    _check_public_url(settings.public_url)
    _check_delivery(settings)
    return settings


def shown_url(url: str) -> str:
    """``url`` fit for a message or a log: any user and password masked."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _check_database(url: str) -> None:
    try:
        backend = make_url(url).get_backend_name()
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


def _check_public_url(url: str) -> None:
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ConfigError(
            f"PUBLIC_URL is {shown_url(url)!r}; expected the base URL vendors "
            "call, with its scheme, such as https://gw.example.com."
        )


def _check_delivery(settings: Settings) -> None:
    """Refuse a tickets API setup that could only make dead tickets."""
    if settings.uses_sandbox:
        return
    for name, url in (
        ("TICKETS_API_URL", settings.tickets_api_url),
        ("OAUTH_TOKEN_URL", settings.oauth_token_url),
    ):
        parts = urlsplit(url)
        local = parts.scheme == "http" and parts.hostname in LOOPBACK
        if url and parts.scheme != "https" and not local:
            raise ConfigError(
                f"{name} is {shown_url(url)!r}; expected an https:// URL (plain "
                "http is only for a tickets API on this machine, such as the "
                "sandbox)."
            )
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
        raise ConfigError(
            f"TICKETS_API_URL is set but {', '.join(missing)} is not: tickets are "
            "sent with the OAuth2 client-credentials grant, which needs all three "
            "OAUTH_* settings."
        )
    if not settings.default_route.status:
        raise ConfigError(
            "TICKET_STATUS_ID is required with TICKETS_API_URL: the tickets API "
            "refuses tickets without a status. Set it to a status id of your CRM."
        )


def _check_numbers(settings: Settings) -> None:
    """Refuse numbers that would quietly break delivery or intake."""
    ranges: dict[str, tuple[float, float, float]] = {
        "HTTP_TIMEOUT_SECONDS": (settings.http_timeout, 0.1, 300),
        "LEASE_SECONDS": (settings.lease_seconds, 1, _DAY),
        "RETRY_MAX_ATTEMPTS": (settings.retry_max_attempts, 1, 100),
        "RETRY_BASE_SECONDS": (settings.retry_base_seconds, 0, 3600),
        "RETRY_MAX_SECONDS": (settings.retry_max_seconds, 0, _DAY),
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


def _secrets(values: list[str]) -> tuple[str, ...]:
    """Secrets from a comma-separated list, as people write them: ``a, b``."""
    return tuple(value.strip() for value in values if value.strip())


def _style(env: Env) -> TicketStyle:
    region = env.str("DEFAULT_REGION", "IL").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"DEFAULT_REGION is {region!r}; expected an ISO country code such "
            "as IL or US."
        )

    timezone = env.str("TIMEZONE", "Asia/Jerusalem")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"TIMEZONE is {timezone!r}; expected an IANA zone such as Asia/Jerusalem."
        ) from exc

    phone_format = env.str("PHONE_FORMAT", "national").lower()
    if phone_format not in ("national", "e164"):
        raise ConfigError(
            f"PHONE_FORMAT is {phone_format!r}; expected 'national' or 'e164'."
        )
    return TicketStyle(
        region=region,
        phone_format=phone_format,
        timezone=timezone,
        account_id=env.str("TICKET_ACCOUNT_ID", ""),
    )


def _per_vendor_triggers(env: Env) -> dict[str, frozenset[str]]:
    default = parse_triggers(env.str("TICKET_ON", ",".join(sorted(DEFAULT_TRIGGERS))))
    if not default:
        raise ConfigError(
            "TICKET_ON names no trigger, so no vendor would make a ticket; "
            f"expected some of {sorted(TRIGGERS)!r}, or leave it unset."
        )
    return {
        vendor: parse_triggers(env.str(f"TICKET_ON_{vendor.upper()}", "")) or default
        for vendor in SCHEMAS
    }
