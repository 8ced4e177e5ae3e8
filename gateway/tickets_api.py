"""The client of the CRM's tickets API: OAuth2 client credentials, one call.

The token is fetched with the client-credentials grant, reused until shortly
before it expires, and fetched again on a 401 (once per send: a second 401
means the credentials themselves are wrong, which waiting may fix, so it is
retried later rather than parked).

A failure is told apart by whether the request reached the CRM. One that
never left (connection refused, no such host, TLS failure) is safe to send
again; one that went out but got no whole answer in time may have created
the ticket, and is raised as :class:`UnansweredDelivery`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error, TokenExpiredError
from requests_oauthlib import OAuth2Session
from urllib3.exceptions import NewConnectionError

from gateway.checks import LOOPBACK
from gateway.db import utcnow
from gateway.deadline import DeadlineAdapter, deadline
from gateway.errors import PermanentDelivery, RetryableDelivery, UnansweredDelivery
from gateway.outbox import RESPONSE_LIMIT
from gateway.redact import shown_url
from mappings.base import rfc2822_time

logger = logging.getLogger(__name__)

CREATE_PATH = "/v2/tickets/create"
_EXPIRY_MARGIN = 60.0
_RETRYABLE = {408, 425, 429}


class TicketsApi:
    """Creates tickets; one instance per worker, holding its token."""

    def __init__(
        self,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        timeout: float = 30.0,
    ) -> None:
        self.create_url = base_url.rstrip("/") + CREATE_PATH
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.timeout = timeout
        _allow_loopback_http(token_url)
        self._session = OAuth2Session(client=BackendApplicationClient(client_id))
        adapter = DeadlineAdapter()
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"<TicketsApi {self.shown_url} client_id={self.client_id!r}>"

    @property
    def shown_url(self) -> str:
        """The create URL fit for logs: any user and password masked."""
        return shown_url(self.create_url)

    def create(self, payload: dict[str, str]) -> tuple[str, requests.Response]:
        """Create one ticket and return its id (a string) with the response.

        :raises UnansweredDelivery: the request went out, no answer came.
        :raises RetryableDelivery: no connection, 408, 429, 5xx, or 401 twice.
        :raises PermanentDelivery: a redirect, any other 4xx, or a 2xx
            without an id.
        """
        response = self._post(payload)
        if response.status_code == 401:
            logger.info("tickets API answered 401; fetching a new token")
            self._fetch_token()
            response = self._post(payload)

        _raise_for_status(response)
        return _ticket_id(response), response

    def _post(self, payload: dict[str, str]) -> requests.Response:
        if self._token_expiring():
            self._fetch_token()
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            with deadline(self.timeout) as limit:
                response: requests.Response = self._session.post(
                    self.create_url,
                    data=body,
                    headers=headers,
                    timeout=self.timeout,
                    # A redirect would be followed as a GET, or resent
                    # elsewhere with the token; it is reported instead.
                    allow_redirects=False,
                )
        except TokenExpiredError as exc:
            self._session.token = {}
            raise RetryableDelivery(
                "the access token expired before it could be used"
            ) from exc
        except requests.RequestException as exc:
            raise _network_error(exc, limit.expired, self.timeout) from exc
        logger.info(
            "POST %s -> %s in %.0f ms",
            self.shown_url,
            response.status_code,
            response.elapsed.total_seconds() * 1000,
        )
        return response

    def _token_expiring(self) -> bool:
        token = self._session.token or {}
        expires_at = token.get("expires_at")
        if not token.get("access_token"):
            return True
        return (
            expires_at is not None and float(expires_at) - _EXPIRY_MARGIN < time.time()
        )

    def _fetch_token(self) -> None:
        token_url = shown_url(self.token_url)
        try:
            with deadline(self.timeout) as limit:
                self._session.fetch_token(
                    self.token_url,
                    client_id=self.client_id,
                    client_secret=self._client_secret,
                    include_client_id=True,
                    timeout=self.timeout,
                )
        except requests.RequestException as exc:
            why = f"no whole answer within {self.timeout:g} s" if limit.expired else exc
            raise RetryableDelivery(
                f"token endpoint {token_url} unreachable: {why}"
            ) from exc
        except (OAuth2Error, ValueError) as exc:
            raise RetryableDelivery(
                f"token endpoint refused the client credentials: {exc}"
            ) from exc
        logger.info("fetched an access token from %s", token_url)


def _network_error(
    exc: requests.RequestException, expired: bool, timeout: float
) -> RetryableDelivery:
    """Say whether a failed create may have reached the CRM."""
    if expired:
        return UnansweredDelivery(
            f"no whole answer within {timeout:g} s; the CRM may have created the ticket"
        )
    if _never_sent(exc):
        return RetryableDelivery(f"tickets API unreachable: {exc}")
    return UnansweredDelivery(
        f"the request went out but no answer came ({exc}); the CRM may have "
        "created the ticket"
    )


def _never_sent(exc: requests.RequestException) -> bool:
    refused_before_sending = (
        requests.ConnectTimeout,
        requests.exceptions.SSLError,
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
    )
    if isinstance(exc, refused_before_sending):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(
        reason, NewConnectionError
    )


def _allow_loopback_http(token_url: str) -> None:
    """Let oauthlib use plain HTTP, but only to this machine (the sandbox).

    oauthlib refuses ``http://`` token URLs unless a process-wide switch is
    set; a real token endpoint must be HTTPS, so the switch is only set for
    loopback addresses.
    """
    parts = urlsplit(token_url)
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


def _raise_for_status(response: requests.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return

    snippet = response.text[:RESPONSE_LIMIT].strip()
    message = f"tickets API answered {status}: {snippet}"
    if 300 <= status < 400:
        location = shown_url(response.headers.get("Location", ""))
        message = snippet = (
            f"tickets API answered {status}, a redirect to {location!r}; set "
            "TICKETS_API_URL to the URL it points to."
        )
    if status in _RETRYABLE or status >= 500 or status == 401:
        raise RetryableDelivery(
            message, status, snippet, retry_after=_retry_after(response)
        )
    raise PermanentDelivery(message, status, snippet)


def _retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds, from either of its two forms."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    moment = rfc2822_time(value)
    if moment is None:
        return None
    return max(0.0, (moment - utcnow()).total_seconds())


def _ticket_id(response: requests.Response) -> str:
    """The new ticket's id, kept exactly as sent.

    Numbers are parsed as text so that an API that sends the 39-digit id as
    a JSON number still yields the exact digits.
    """
    try:
        body: Any = json.loads(response.text, parse_int=str, parse_float=str)
    except ValueError as exc:
        raise PermanentDelivery(
            f"tickets API answered {response.status_code} without JSON; the "
            "ticket may exist, check before replaying.",
            response.status_code,
            response.text[:RESPONSE_LIMIT],
        ) from exc
    ticket_id = body.get("id") if isinstance(body, dict) else None
    if ticket_id in (None, ""):
        raise PermanentDelivery(
            f"tickets API answered {response.status_code} without an id; the "
            "ticket may exist, check before replaying.",
            response.status_code,
            response.text[:RESPONSE_LIMIT],
        )
    return str(ticket_id)
