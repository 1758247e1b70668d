"""Draws by project: an index on (project_ref, id).

ListDraws with project_code (supervisors, for the per-project archive, draw-v1.md §14)
and the PROJECT_DRAW_PENDING check at CreateDraw select draws by project_ref; without an
index both scanned every draw.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ix_draw_project (project_ref, id)."""
    op.create_index("ix_draw_project", "draw", ["project_ref", "id"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_draw_project", "draw")
