"""Settings, read once from the environment (and a ``.env`` file if present).

Every setting has a safe default except the secrets: a vendor whose secret
is missing is refused unless ``ALLOW_UNSIGNED`` names it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from dotenv import load_dotenv
from environs import Env, EnvError

from gateway.checks import check, check_log_level
from gateway.errors import ConfigError
from gateway.vendors import VENDORS
from mappings.policy import DEFAULT_TRIGGERS, TRIGGERS, parse_triggers
from mappings.registry import SCHEMAS
from mappings.routing import Route, Rule, parse_rules
from mappings.ticket import TicketStyle

SANDBOX_STATUS_ID = "233476065495939904005866822871905093425"
DEFAULT_DATABASE_URL = "sqlite:///ringdesk.db"

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


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    secrets: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    allow_unsigned: frozenset[str] = frozenset()
    public_url: str = ""
    proxy_hops: int = 1
    trust_forwarded_host: bool = False
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
    http_timeout: float = 30.0
    retry_max_attempts: int = 15
    retry_unanswered_max: int = 1
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
    the command line's options (``PORT``, ``HOST``) see it too. Values are
    taken as written, without expanding ``${...}``.
    """
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False, interpolate=False)


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
    # Values are taken as written: a secret may well contain "$".
    env = Env(expand_vars=False)
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
        trust_forwarded_host=env.bool("TRUST_X_FORWARDED_HOST", False),
        max_body_bytes=env.int("MAX_BODY_BYTES", 1024 * 1024),
        style=_style(env),
        default_route=Route(
            department_id=_crm_id(env, "TICKET_DEPARTMENT_ID"),
            priority_id=_crm_id(env, "TICKET_PRIORITY_ID"),
            status=_crm_id(
                env, "TICKET_STATUS_ID", "" if tickets_api_url else SANDBOX_STATUS_ID
            ),
            owner=_crm_id(env, "TICKET_OWNER_ID"),
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
        http_timeout=env.float("HTTP_TIMEOUT_SECONDS", 30.0),
        retry_max_attempts=env.int("RETRY_MAX_ATTEMPTS", 15),
        retry_unanswered_max=env.int("RETRY_UNANSWERED_MAX", 1),
        retry_base_seconds=env.float("RETRY_BASE_SECONDS", 5.0),
        retry_max_seconds=env.float("RETRY_MAX_SECONDS", 900.0),
        lease_seconds=env.float("LEASE_SECONDS", 60.0),
        poll_seconds=env.float("WORKER_POLL_SECONDS", 1.0),
    )
    demo_secrets = {DEMO_SETTINGS[v.secret_setting] for v in VENDORS.values()}
    check(settings, frozenset(demo_secrets))
    check_log_level(env.str("LOG_LEVEL", "INFO"))
    return settings


def _crm_id(env: Env, name: str, default: str = "") -> str:
    """An id of the CRM's; blank is none at all."""
    return env.str(name, default).strip()


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
        account_id=_crm_id(env, "TICKET_ACCOUNT_ID"),
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
