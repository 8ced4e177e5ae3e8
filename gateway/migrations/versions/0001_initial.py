"""Events, tickets and delivery attempts.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.db import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_until", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("payload", sa.JSON, nullable=True),
        sa.Column("remote_id", sa.String(255), nullable=True),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("vendor", "call_id", name="uq_tickets_vendor_call_id"),
    )
    op.create_index("ix_tickets_state_due_at", "tickets", ["state", "due_at"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(512), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False, server_default=""),
        sa.Column("signature", sa.String(255), nullable=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("vendor", "event_id", name="uq_events_vendor_event_id"),
        sa.UniqueConstraint("vendor", "signature", name="uq_events_vendor_signature"),
    )
    op.create_index("ix_events_vendor_call_id", "events", ["vendor", "call_id"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("response", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_attempts_ticket_id", "attempts", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("attempts")
    op.drop_table("events")
    op.drop_table("tickets")
