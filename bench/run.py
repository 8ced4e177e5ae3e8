"""Webhook intake cost, measured against Flask's own floor in the same run.

Prints how many webhooks per second the full path (verify, parse, normalize,
store on SQLite, answer) accepts, next to a bare Flask route that only parses
the same JSON body and answers 202. The ratio is the figure to watch: it says
what the gateway adds on top of the framework on this machine, today.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import make_settings  # noqa: E402

from gateway import migrate  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.db import make_engine  # noqa: E402

ROUNDS = 5
PER_ROUND = 300
BODY = json.loads((ROOT / "tests/fixtures/voicenter/queue_abandoned.json").read_text())


def bare_app() -> Flask:
    app = Flask("baseline")

    @app.post("/webhooks/voicenter/<token>")
    def receive(token: str) -> tuple[dict[str, object], int]:
        return {"ok": bool(request.get_json())}, 202

    return app


def rate(app: Flask, start: int) -> float:
    client = app.test_client()
    began = time.perf_counter()
    for number in range(start, start + PER_ROUND):
        body = {**BODY, "ivruniqueid": f"bench{number:09d}"}
        response = client.post(
            "/webhooks/voicenter/test-voicenter-url-token", json=body
        )
        assert response.status_code in (200, 202), response.data
    return PER_ROUND / (time.perf_counter() - began)


def median_rate(app: Flask) -> float:
    return statistics.median(rate(app, r * PER_ROUND) for r in range(ROUNDS))


def measure(name: str, make: Callable[[], Flask]) -> float:
    value = median_rate(make())
    print(f"{name:<40} {value:8.0f} webhooks/s")
    return value


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        migrate.upgrade(engine)
        settings = make_settings()
        baseline = measure("baseline: bare Flask route", bare_app)
        gateway = measure(
            "ringdesk: verify+parse+store (SQLite)",
            lambda: create_app(settings, engine, mount_sandbox=False),
        )
    print(f"{'ratio gateway / baseline':<40} {gateway / baseline:8.3f}")


if __name__ == "__main__":
    main()
