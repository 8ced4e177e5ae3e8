"""The ``ringdesk`` command: serve, worker, sandbox, simulate, db, replay,
tickets, events, sign."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from flask import Request
from werkzeug.test import EnvironBuilder

from gateway import migrate
from gateway.app import SANDBOX_PREFIX, create_app
from gateway.config import (
    Settings,
    load_settings,
    read_dotenv,
    use_demo_defaults,
)
from gateway.db import make_engine
from gateway.devserver import serve_forever
from gateway.errors import ConfigError, WebhookRejected
from gateway.inbox import OUTCOMES as INBOX_OUTCOMES
from gateway.listings import (
    EVENT_HEADER,
    TICKET_HEADER,
    event_detail,
    event_lines,
    ticket_lines,
)
from gateway.logs import configure_logging
from gateway.outbox import STATES as OUTBOX_STATES
from gateway.outbox import replay as replay_tickets
from gateway.outbox import states as ticket_states
from gateway.payloads import Body, read_body
from gateway.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    create_sandbox_app,
)
from gateway.signatures import twilio_signature
from gateway.vendors import VENDORS
from gateway.webhooks import load_event
from gateway.worker import Worker, build_payload, make_api
from mappings.event import dump_event
from mappings.policy import decide
from mappings.registry import SCHEMAS

logger = logging.getLogger(__name__)


@click.group()
def main() -> None:
    """ringdesk: turn call-center webhooks into CRM tickets."""
    configure_logging()
    # Before the command's options are read, so that PORT and HOST in .env
    # count as much as they do in the environment.
    read_dotenv()


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"Configuration error: {exc}") from exc


@main.command(short_help="Run the gateway and a worker in one process.")
@click.option(
    "--host", envvar="HOST", default="127.0.0.1", show_default=True, show_envvar=True
)
@click.option(
    "--port", envvar="PORT", default=8000, show_default=True, show_envvar=True, type=int
)
@click.option(
    "--demo",
    is_flag=True,
    help="Use the README's demo secrets and 15 s settle windows where nothing "
    "else sets them (only while tickets go to the built-in sandbox).",
)
def serve(host: str, port: int, demo: bool) -> None:
    """Run the gateway and a worker in one process (development server).

    Without TICKETS_API_URL, tickets go to the sandbox served by this same
    process under /sandbox.
    """
    if demo:
        _use_demo_defaults()
    settings = _settings()
    embedded = settings.uses_sandbox
    if embedded:
        base = f"http://127.0.0.1:{port}{SANDBOX_PREFIX}"
        settings = dataclasses.replace(
            settings,
            tickets_api_url=base,
            oauth_token_url=f"{base}/oauth/token",
            oauth_client_id=SANDBOX_CLIENT_ID,
            oauth_client_secret=SANDBOX_CLIENT_SECRET,
        )
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    app = create_app(settings, engine, mount_sandbox=embedded)

    stop = threading.Event()
    worker = Worker(settings, engine, make_api(settings))
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        serve_forever(app, host, port)
    finally:
        stop.set()
        thread.join(timeout=10)


def _use_demo_defaults() -> None:
    secret_settings = {vendor.secret_setting for vendor in VENDORS.values()}
    for name in use_demo_defaults():
        if name in secret_settings:
            logger.warning("%s: using the README's demo secret", name)
        else:
            logger.warning("%s=%s: the README's demo value", name, os.environ[name])


@main.command(short_help="Deliver tickets to TICKETS_API_URL.")
def worker() -> None:
    """Deliver tickets to TICKETS_API_URL until stopped (SIGTERM or Ctrl-C)."""
    settings = _settings()
    if settings.uses_sandbox:
        raise click.ClickException(
            "The worker needs TICKETS_API_URL and OAUTH_TOKEN_URL (with "
            "OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET); `ringdesk serve` runs "
            "one against the built-in sandbox instead."
        )
    engine = make_engine(settings.database_url)
    if engine.dialect.name == "sqlite":
        migrate.upgrade(engine)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Worker(settings, engine, make_api(settings)).run(stop)


@main.command(short_help="Run a local stand-in for the tickets API.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option(
    "--client-id",
    envvar="OAUTH_CLIENT_ID",
    default=SANDBOX_CLIENT_ID,
    show_default=True,
    show_envvar=True,
)
@click.option(
    "--client-secret",
    envvar="OAUTH_CLIENT_SECRET",
    default=SANDBOX_CLIENT_SECRET,
    show_default=True,
    show_envvar=True,
)
@click.option("--token-ttl", default=3600, show_default=True, type=int)
def sandbox(
    host: str, port: int, client_id: str, client_secret: str, token_ttl: int
) -> None:
    """Run a local tickets API that follows the documented contract.

    Point the gateway at it with TICKETS_API_URL=http://HOST:PORT,
    OAUTH_TOKEN_URL=http://HOST:PORT/oauth/token, the same OAUTH_CLIENT_ID
    and OAUTH_CLIENT_SECRET, and any TICKET_STATUS_ID.
    """
    app = create_sandbox_app(client_id, client_secret, token_ttl)
    base = f"http://{host}:{port}"
    secret = (
        repr(client_secret)
        if client_secret == SANDBOX_CLIENT_SECRET
        else "from OAUTH_CLIENT_SECRET"
    )
    click.echo(
        f"sandbox tickets API on {base} (token URL {base}/oauth/token, "
        f"client id {client_id!r}, secret {secret})",
        err=True,
    )
    serve_forever(app, host, port)


@main.command(short_help="Show the event and ticket a saved webhook body makes.")
@click.argument("vendor", type=click.Choice(sorted(SCHEMAS)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def simulate(vendor: str, file: Path) -> None:
    """Show the event and ticket a webhook body makes; sends nothing.

    FILE is a JSON body (.json) or a form-encoded one (anything else).
    """
    settings = _settings()
    content_type = (
        "application/json"
        if file.suffix == ".json"
        else "application/x-www-form-urlencoded"
    )
    try:
        body = _read_file(file, content_type)
        event = load_event(vendor, body, settings)
    except WebhookRejected as exc:
        raise click.ClickException(exc.message) from exc

    decision = decide(event, settings.triggers_for(vendor))
    result: dict[str, Any] = {
        "event": dump_event(event),
        "decision": {"ticket": decision.ticket, "reason": decision.reason},
        "ticket": build_payload(settings, [event]) if decision.ticket else None,
    }
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to DATABASE_URL."""
    engine = make_engine(_settings().database_url, wait_seconds=None)
    before, now = migrate.upgrade(engine)
    if before == now:  # an upgrade logs itself
        click.echo(f"database schema is up to date (revision {now})")


@main.command()
@click.argument("ticket_rows", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Queue every dead ticket again.")
def replay(ticket_rows: tuple[int, ...], all_dead: bool) -> None:
    """Queue dead tickets for delivery again (by number, or --all-dead)."""
    if not ticket_rows and not all_dead:
        raise click.UsageError("Name ticket numbers, or pass --all-dead.")
    engine = make_engine(_settings().database_url)
    queued = replay_tickets(engine, ticket_rows, all_dead=all_dead)
    numbers = "".join(f" #{row}" for row in queued)
    click.echo(f"{len(queued)} ticket(s) queued again{numbers}")

    left = sorted(set(ticket_rows) - set(queued))
    known = ticket_states(engine, left)
    for row in left:
        state = known.get(row)
        why = f"is {state}, not dead" if state else "does not exist"
        click.echo(f"ticket #{row} {why}; not queued", err=True)
    if left:
        sys.exit(1)


@main.command("tickets")
@click.option("--state", type=click.Choice(OUTBOX_STATES))
@click.option("--limit", default=50, show_default=True)
def list_tickets(state: str | None, limit: int) -> None:
    """List tickets with their delivery state, newest first."""
    engine = make_engine(_settings().database_url)
    _echo_table(TICKET_HEADER, ticket_lines(engine, state, limit), "tickets", state)


@main.command("events")
@click.option("--outcome", type=click.Choice(INBOX_OUTCOMES))
@click.option("--call", "call_id", help="Only the events of this call id.")
@click.option("--limit", default=50, show_default=True)
def list_events(outcome: str | None, call_id: str | None, limit: int) -> None:
    """List stored events and what became of each, newest first.

    Events that came after their call's ticket was sent (--outcome late) and
    those that made no ticket (--outcome ignored) are found here.
    """
    engine = make_engine(_settings().database_url)
    lines = event_lines(engine, outcome, call_id, limit)
    _echo_table(EVENT_HEADER, lines, "events", outcome)


@main.command("event")
@click.argument("event_row", type=int)
def show_event(event_row: int) -> None:
    """Show one stored event whole, with its notes, as JSON.

    EVENT_ROW is the number `ringdesk events` lists and the gateway answers
    as event_id.
    """
    engine = make_engine(_settings().database_url)
    detail = event_detail(engine, event_row)
    if detail is None:
        raise click.ClickException(f"No event #{event_row}.")
    click.echo(json.dumps(detail, ensure_ascii=False, indent=2))


def _echo_table(header: str, lines: Iterator[str], noun: str, kind: str | None) -> None:
    first = next(lines, None)
    if first is None:
        click.echo(f"No {kind + ' ' if kind else ''}{noun}.")
        return
    click.echo(header)
    click.echo(first)
    for line in lines:
        click.echo(line)


@main.command()
@click.argument("url")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sign(url: str, file: Path) -> None:
    """Print the X-Twilio-Signature Twilio would send for a form body.

    Uses TWILIO_AUTH_TOKEN (the first one when several are set).
    """
    secrets = _settings().secrets.get("twilio", ())
    if not secrets:
        raise click.ClickException("Set TWILIO_AUTH_TOKEN to sign.")
    body = _read_file(file, "application/x-www-form-urlencoded")
    click.echo(twilio_signature(secrets[0], url, body.pairs))


def _read_file(file: Path, content_type: str) -> Body:
    """Read a saved webhook body exactly as the endpoint reads a request."""
    environ = EnvironBuilder(
        method="POST", data=file.read_bytes(), content_type=content_type
    ).get_environ()
    return read_body(Request(environ))


if __name__ == "__main__":
    sys.exit(main())
