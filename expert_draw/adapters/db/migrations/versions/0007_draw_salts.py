"""A draw's salts in one sealed blob, and a seat index over seated members only.

A commit inserted one row per pool member (about 600 for a 三级 discipline at 1M
experts) with its salt sealed alone and two indexes on the expert: most of the commit's
time. The salts now go into ``draw.salts_enc`` as one sealed blob (rows written before
keep ``draw_member.salt_enc``, which becomes nullable; the blob is JSON of hex
pseudonym to hex salt), and the schedule checks read a
partial index holding only members that hold or held a seat, which the commit's
unseated rows do not touch.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEATED = sa.text("seat IS NOT NULL")


def upgrade() -> None:
    """Add draw.salts_enc, relax draw_member.salt_enc, swap the seat indexes."""
    op.add_column("draw", sa.Column("salts_enc", sa.LargeBinary(), nullable=True))
    op.drop_index("ix_draw_member_seats", "draw_member")
    op.drop_index("ix_draw_member_expert", "draw_member")
    with op.batch_alter_table("draw_member") as batch:
        batch.alter_column("salt_enc", existing_type=sa.LargeBinary(), nullable=True)
    op.create_index(
        "ix_draw_member_seated", "draw_member", ["expert_id", "left", "draw_id"],
        sqlite_where=SEATED, postgresql_where=SEATED,
    )  # fmt: skip


def downgrade() -> None:
    """Back to 0006 (refused while any draw keeps its salts only in the blob)."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM draw WHERE salts_enc IS NOT NULL")).first():
        msg = "draws hold their salts in draw.salts_enc: downgrading would lose them"
        raise RuntimeError(msg)
    op.drop_index("ix_draw_member_seated", "draw_member")
    with op.batch_alter_table("draw_member") as batch:
        batch.alter_column("salt_enc", existing_type=sa.LargeBinary(), nullable=False)
    op.create_index("ix_draw_member_expert", "draw_member", ["expert_id", "seat"])
    op.create_index("ix_draw_member_seats", "draw_member", ["expert_id", "seat", "left", "draw_id"])
    op.drop_column("draw", "salts_enc")
