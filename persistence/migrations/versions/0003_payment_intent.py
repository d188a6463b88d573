"""Payment intents recorded as soon as they exist; the inbox keyed by any event id.

Revision ID: 0003_payment_intent
Revises: 0002_event_actor

- ``payment_intents``: the provider's intent per order key, written before the intent is
  confirmed, so every later attempt continues it (Stripe forgets idempotency keys after
  24 hours).
- ``inbox.event_id``: uuid → text (255), so Stripe's event ids (``evt_…``) fit beside the
  CloudEvents' UUIDs (kept in their usual text form).

SQLite cannot alter a column in place: batch mode copies the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_payment_intent"
down_revision: str | Sequence[str] | None = "0002_event_actor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_intents",
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("intent_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_payment_intents")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_payment_intents_intent_id")),
    )
    with op.batch_alter_table("inbox") as batch:
        batch.alter_column(
            "event_id",
            existing_type=sa.Uuid(),
            type_=sa.String(length=255),
            existing_nullable=False,
            postgresql_using="event_id::text",
        )


def downgrade() -> None:
    # Only UUIDs convert back: Stripe's event ids are dropped with the webhook's inbox rows.
    op.execute("DELETE FROM inbox WHERE event_id NOT LIKE '________-____-____-____-____________'")
    with op.batch_alter_table("inbox") as batch:
        batch.alter_column(
            "event_id",
            existing_type=sa.String(length=255),
            type_=sa.Uuid(),
            existing_nullable=False,
            postgresql_using="event_id::uuid",
        )
    op.drop_table("payment_intents")
