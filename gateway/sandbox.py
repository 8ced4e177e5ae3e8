"""A local stand-in for the CRM's tickets API, strict about its contract.

It issues OAuth2 client-credentials tokens, creates tickets only for a valid
bearer token and a payload whose fields are all strings with ``subject`` and
``status`` set, and lists what it created. It can also be told to fail
(``POST /_sandbox/faults``), to answer slowly (``POST /_sandbox/latency``)
or to revoke its tokens (``POST /_sandbox/revoke``), so that outages, rate
limits and revoked tokens can be tried without a real CRM.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import secrets
import threading
import time
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

logger = logging.getLogger(__name__)

CREATED_MESSAGE = "טיקט נוצר בהצלחה"
SANDBOX_CLIENT_ID = "ringdesk"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
TICKET_FIELDS = (
    "account_id",
    "subject",
    "msg",
    "owner",
    "department_id",
    "priority_id",
    "status",
    "phone",
    "email",
)


@dataclasses.dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: str = ""
    body: str = ""


class SandboxState:
    """Tokens, tickets and injected faults, shared by the sandbox's threads."""

    def __init__(self, client_id: str, client_secret: str, token_ttl: int) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}
        self.tickets: list[dict[str, Any]] = []
        self.fault: _Fault | None = None
        self.latency = 0.0
        self.token_requests = 0

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.time() + self.token_ttl
            self.token_requests += 1
        return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            return self.tokens.get(token, 0) > time.time()

    def take_fault(self) -> _Fault | None:
        with self.lock:
            fault = self.fault
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.fault = None
            return fault

    def add_ticket(self, ticket: dict[str, str]) -> str:
        ticket_id = str(secrets.randbelow(9 * 10**38) + 10**38)
        with self.lock:
            self.tickets.append(
                {"id": ticket_id, "created_at": time.time(), "ticket": ticket}
            )
        return ticket_id


def sandbox_blueprint(
    client_id: str = SANDBOX_CLIENT_ID,
    client_secret: str = SANDBOX_CLIENT_SECRET,
    token_ttl: int = 3600,
) -> Blueprint:
    """Build the sandbox's routes with a fresh, empty state."""
    views = _Views(SandboxState(client_id, client_secret, token_ttl))
    bp = Blueprint("sandbox", __name__)
    routes = (
        ("/oauth/token", "POST", views.token),
        ("/v2/tickets/create", "POST", views.create),
        ("/_sandbox/tickets", "GET", views.listing),
        ("/_sandbox/stats", "GET", views.stats),
        ("/_sandbox/faults", "POST", views.set_fault),
        ("/_sandbox/faults", "DELETE", views.clear_fault),
        ("/_sandbox/latency", "POST", views.set_latency),
        ("/_sandbox/latency", "DELETE", views.clear_latency),
        ("/_sandbox/revoke", "POST", views.revoke),
    )
    for rule, method, view in routes:
        bp.add_url_rule(rule, view.__name__, view, methods=[method])
    return bp


class _Views:
    """The sandbox's endpoints: the documented contract, then test controls."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def token(self) -> tuple[Response, int]:
        if request.form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", "use client_credentials")
        if _client_credentials() != (self.state.client_id, self.state.client_secret):
            return _oauth_error("invalid_client", "unknown client or wrong secret", 401)
        return jsonify(
            access_token=self.state.issue_token(),
            token_type="Bearer",
            expires_in=self.state.token_ttl,
        ), 200

    def create(self) -> tuple[Response, int]:
        if self.state.latency:
            time.sleep(self.state.latency)
        fault = self.state.take_fault()
        if fault is not None:
            return _fault_response(fault)

        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self.state.token_valid(auth[7:]):
            return jsonify(error="invalid or expired access token"), 401

        ticket = request.get_json(silent=True)
        problem = _contract_problem(ticket)
        if problem or not isinstance(ticket, dict):
            return jsonify(error=problem), 400
        ticket_id = self.state.add_ticket(ticket)
        logger.info("sandbox created ticket %s", ticket_id)
        return jsonify(
            id=ticket_id, message=CREATED_MESSAGE, ticket_status=ticket["status"]
        ), 201

    def listing(self) -> Response:
        with self.state.lock:
            tickets = list(self.state.tickets)
        return jsonify(tickets=tickets, count=len(tickets))

    def stats(self) -> Response:
        with self.state.lock:
            return jsonify(
                tickets=len(self.state.tickets),
                token_requests=self.state.token_requests,
            )

    def set_fault(self) -> tuple[Response, int]:
        spec = request.get_json(silent=True) or {}
        try:
            fault = _Fault(
                status=int(spec.get("status", 503)),
                remaining=int(spec.get("count", 1)),
                retry_after=str(spec.get("retry_after", "")),
                body=str(spec.get("body", "")),
            )
        except (TypeError, ValueError):
            return jsonify(error="status and count must be whole numbers"), 400
        if fault.remaining < 1:
            return jsonify(error="count must be 1 or more; DELETE clears a fault"), 400
        with self.state.lock:
            self.state.fault = fault
        return jsonify(fault=dataclasses.asdict(fault)), 200

    def clear_fault(self) -> tuple[Response, int]:
        with self.state.lock:
            self.state.fault = None
        return jsonify(fault=None), 200

    def set_latency(self) -> tuple[Response, int]:
        spec = request.get_json(silent=True) or {}
        try:
            seconds = min(max(0.0, float(spec.get("seconds", 0))), 60.0)
        except (TypeError, ValueError):
            return jsonify(error="seconds must be a number"), 400
        with self.state.lock:
            self.state.latency = seconds
        return jsonify(seconds=seconds), 200

    def clear_latency(self) -> tuple[Response, int]:
        with self.state.lock:
            self.state.latency = 0.0
        return jsonify(seconds=0.0), 200

    def revoke(self) -> tuple[Response, int]:
        with self.state.lock:
            revoked = len(self.state.tokens)
            self.state.tokens.clear()
        return jsonify(revoked=revoked), 200


def _fault_response(fault: _Fault) -> tuple[Response, int]:
    response = jsonify(error=fault.body or f"injected {fault.status}")
    if fault.retry_after:
        response.headers["Retry-After"] = fault.retry_after
    return response, fault.status


def _client_credentials() -> tuple[str, str]:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        try:
            decoded = base64.b64decode(auth[6:]).decode()
        except ValueError:
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _oauth_error(
    code: str, description: str, status: int = 400
) -> tuple[Response, int]:
    return jsonify(error=code, error_description=description), status


def _contract_problem(ticket: Any) -> str:
    """Say what breaks the documented create contract, or ``""``."""
    if not isinstance(ticket, dict):
        return "expected a JSON object body"
    unknown = sorted(set(ticket) - set(TICKET_FIELDS))
    if unknown:
        return f"unknown field(s) {unknown}"
    for name, value in ticket.items():
        if not isinstance(value, str):
            return f"field {name!r} must be a string, got {type(value).__name__}"
    for name in ("subject", "status"):
        if not ticket.get(name):
            return f"field {name!r} is required"
    return ""


def create_sandbox_app(
    client_id: str = SANDBOX_CLIENT_ID,
    client_secret: str = SANDBOX_CLIENT_SECRET,
    token_ttl: int = 3600,
) -> Flask:
    """The sandbox as an app of its own, for ``ringdesk sandbox``."""
    app = Flask("ringdesk.sandbox")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(sandbox_blueprint(client_id, client_secret, token_ttl))
    return app
