"""A draw's seats from an index of seated members only.

GetDraw, ListDraws and the BUSY check read a draw's seats; through the primary key
(draw_id, pseud) that walked every leaf of the pool (about 600 per draw at 1M experts),
so a ListDraws page of 100 read some 60,000 member rows (found by bench/load.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEATED = sa.text("seat IS NOT NULL")


def upgrade() -> None:
    """Create ix_draw_member_draw_seats (draw_id, seat, pseud) WHERE seat IS NOT NULL."""
    op.create_index(
        "ix_draw_member_draw_seats", "draw_member", ["draw_id", "seat", "pseud"],
        sqlite_where=SEATED, postgresql_where=SEATED,
    )  # fmt: skip


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_draw_member_draw_seats", "draw_member")
