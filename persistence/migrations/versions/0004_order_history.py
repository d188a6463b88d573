"""The order-history read model of the reference consumer (``consumers.order_history``).

Revision ID: 0004_order_history
Revises: 0003_payment_intent
Create Date: 2026-12-01 07:00:00

One table, created with its constraints inline, so it runs on PostgreSQL and SQLite alike.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_order_history"
down_revision: str | Sequence[str] | None = "0003_payment_intent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_order_history",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column(
            "total_amount",
            sa.Numeric(precision=12, scale=2).with_variant(sa.String(length=32), "sqlite"),
            nullable=True,
        ),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_type", sa.String(length=128), nullable=False),
        sa.Column("last_event_id", sa.Uuid(), nullable=False),
        sa.Column("events_applied", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_customer_order_history")),
    )
    op.create_index(
        "ix_customer_order_history_customer_id_placed_at",
        "customer_order_history",
        ["customer_id", sa.text("placed_at DESC")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_customer_order_history_customer_id_placed_at", table_name="customer_order_history"
    )
    op.drop_table("customer_order_history")
