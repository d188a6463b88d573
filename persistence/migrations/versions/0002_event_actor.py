"""events.actor: who caused each event (a user, an operator, the system).

Nullable: events appended before this migration did not record it, and nothing can
recover it for them.

Revision ID: 0002_event_actor
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_event_actor"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTERs, no batch mode: SQLite adds and (3.35+) drops a nullable column in place,
    # whereas a batch rebuild of the events table would have to recreate its partial index.
    op.add_column(
        "events",
        sa.Column(
            "actor",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("events", "actor")
