"""Experts by state in id order: an index on (state, id).

ListExperts pages experts of one state in id order (``state = ? AND id > ? ORDER BY id
LIMIT n``). With only (state, region_code), SQLite searched that index, read every
expert of the state and sorted them in a temporary B-tree, for every page: the cost of a
page grew with the library.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ix_expert_state_id (state, id)."""
    op.create_index("ix_expert_state_id", "expert", ["state", "id"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_expert_state_id", "expert")
