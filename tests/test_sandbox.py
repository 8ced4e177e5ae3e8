"""The sandbox keeps the tickets API's documented contract strictly."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from gateway.sandbox import CREATED_MESSAGE, create_sandbox_app

STATUS = "233476065495939904005866822871905093425"


@pytest.fixture
def api() -> FlaskClient:
    return create_sandbox_app("id", "secret", 3600).test_client()


def bearer(api: FlaskClient) -> dict[str, str]:
    response = api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "id",
            "client_secret": "secret",
        },
    )
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def test_token_needs_the_right_client(api: FlaskClient) -> None:
    wrong = api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "id",
            "client_secret": "nope",
        },
    )

    assert wrong.status_code == 401
    assert wrong.json["error"] == "invalid_client"


def test_create_without_token_is_401(api: FlaskClient) -> None:
    response = api.post("/v2/tickets/create", json={"subject": "s", "status": STATUS})

    assert response.status_code == 401


def test_create_answers_with_39_digit_id_and_hebrew_message(api: FlaskClient) -> None:
    response = api.post(
        "/v2/tickets/create",
        json={"subject": "s", "status": STATUS, "msg": "שלום 🙂"},
        headers=bearer(api),
    )

    assert response.status_code == 201
    assert isinstance(response.json["id"], str)
    assert len(response.json["id"]) == 39 and response.json["id"].isdigit()
    assert response.json["message"] == CREATED_MESSAGE
    assert response.json["ticket_status"] == STATUS
    assert "טיקט".encode() in response.data


@pytest.mark.parametrize(
    ("ticket", "problem"),
    [
        ({"status": STATUS}, "'subject' is required"),
        ({"subject": "s"}, "'status' is required"),
        (
            {"subject": "s", "status": 233476065495939904005866822871905093425},
            "must be a string",
        ),
        ({"subject": "s", "status": STATUS, "colour": "red"}, "unknown field"),
    ],
)
def test_create_refuses_what_breaks_the_contract(
    api: FlaskClient, ticket: dict[str, object], problem: str
) -> None:
    response = api.post("/v2/tickets/create", json=ticket, headers=bearer(api))

    assert response.status_code == 400
    assert problem in response.json["error"]


def test_created_tickets_are_listed(api: FlaskClient) -> None:
    api.post(
        "/v2/tickets/create",
        json={"subject": "s", "status": STATUS},
        headers=bearer(api),
    )

    listing = api.get("/_sandbox/tickets").json

    assert listing["count"] == 1
    assert listing["tickets"][0]["ticket"] == {"subject": "s", "status": STATUS}


def test_latency_is_set_and_cleared(api: FlaskClient) -> None:
    slow = api.post("/_sandbox/latency", json={"seconds": 0.2})
    started = time.monotonic()
    api.post("/v2/tickets/create", json={"subject": "s", "status": STATUS})
    waited = time.monotonic() - started
    cleared = api.delete("/_sandbox/latency")

    assert slow.json == {"seconds": 0.2}
    assert waited >= 0.2
    assert cleared.json == {"seconds": 0.0}


def test_fault_fails_the_next_creates_then_clears(api: FlaskClient) -> None:
    set_fault = api.post(
        "/_sandbox/faults",
        json={"status": 400, "count": 2, "retry_after": "9", "body": "bad phone"},
    )
    ticket = {"subject": "s", "status": STATUS}
    answers = [
        api.post("/v2/tickets/create", json=ticket, headers=bearer(api))
        for _ in range(3)
    ]

    assert set_fault.json["fault"]["remaining"] == 2
    assert [a.status_code for a in answers] == [400, 400, 201]
    assert answers[0].json == {"error": "bad phone"}
    assert answers[0].headers["Retry-After"] == "9"


@pytest.mark.parametrize("count", [0, -1, "many"])
def test_fault_without_a_positive_count_is_refused(
    api: FlaskClient, count: object
) -> None:
    response = api.post("/_sandbox/faults", json={"status": 503, "count": count})
    created = api.post(
        "/v2/tickets/create",
        json={"subject": "s", "status": STATUS},
        headers=bearer(api),
    )

    assert response.status_code == 400
    assert created.status_code == 201
