"""Bringing a database's schema up to date with the Alembic migrations."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

_SCRIPTS = Path(__file__).with_name("migrations")


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Apply the migrations the database lacks; quiet when it has them all.

    :returns: the revision the database was at (``None`` when empty), and
        the one it is at now.
    """
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return current, head
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    logger.info("database schema upgraded from %s to %s", current or "empty", head)
    return current, head
