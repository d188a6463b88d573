"""The maintenance switch: one row an operator sets to stop new orders.

Revision ID: 0005_maintenance_switch
Revises: 0004_order_history
Create Date: 2026-12-08 05:00:00

Expand only: a new table, which the previous build neither reads nor writes, so both builds
run on this schema side by side (docs/upgrade.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_maintenance_switch"
down_revision: str | Sequence[str] | None = "0004_order_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "maintenance_switch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("retry_after_seconds", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.String(length=128), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_maintenance_switch_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_switch")),
    )


def downgrade() -> None:
    op.drop_table("maintenance_switch")
