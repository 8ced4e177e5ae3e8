"""Alembic environment: runs the migrations on the gateway's database.

The connection comes from :func:`gateway.migrate.upgrade`; run through the
``alembic`` command instead, it is opened from ``DATABASE_URL``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from gateway.config import DEFAULT_DATABASE_URL, database_url
from gateway.db import make_engine, metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    import os

    url = database_url(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    with make_engine(url, wait_seconds=None).connect() as opened:
        _run(opened)
        opened.commit()
