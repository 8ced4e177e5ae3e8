"""``mappings`` stays free of I/O: no web framework, HTTP client or database."""

from __future__ import annotations

import subprocess
import sys


def test_mappings_import_no_io_libraries() -> None:
    code = (
        "import sys, mappings, mappings.ticket, mappings.routing, mappings.policy;"
        "bad = [m for m in ('flask', 'werkzeug', 'requests', 'requests_oauthlib',"
        " 'sqlalchemy', 'gateway') if m in sys.modules];"
        "print(','.join(bad))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == ""


def test_importing_the_gateway_builds_nothing() -> None:
    code = "import gateway, logging; print(len(logging.getLogger().handlers))"

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "0"
