"""Draws: committed draws and the members of their frozen pools.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the draw tables."""
    op.create_table(
        "draw",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("draw_id", sa.String(56), nullable=False, unique=True),
        sa.Column("tender_ref", sa.LargeBinary(), nullable=False),
        sa.Column("project_ref", sa.LargeBinary(), nullable=False),
        sa.Column("tenderer", sa.String(18), nullable=False),
        sa.Column("supersedes", sa.String(56), nullable=True),
        sa.Column("requester", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(40), nullable=False),
        sa.Column("beacon", sa.Boolean(), nullable=False),
        sa.Column("params", sa.LargeBinary(), nullable=False),
        sa.Column("params_hash", sa.LargeBinary(), nullable=False),
        sa.Column("pool_root", sa.LargeBinary(), nullable=False),
        sa.Column("excluded_root", sa.LargeBinary(), nullable=False),
        sa.Column("n_elig", sa.Integer(), nullable=False),
        sa.Column("n_excl", sa.Integer(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("excluded_counts", sa.Text(), nullable=False),
        sa.Column("round", sa.BigInteger(), nullable=False),
        sa.Column("c_s", sa.LargeBinary(), nullable=False),
        sa.Column("s_enc", sa.LargeBinary(), nullable=True),
        sa.Column("envelopes", sa.Text(), nullable=False),
        sa.Column("commit_digest", sa.LargeBinary(), nullable=False),
        sa.Column("commit_seq", sa.BigInteger(), nullable=True),
        sa.Column("commit_ms", sa.BigInteger(), nullable=False),
        sa.Column("nonce_deadline_ms", sa.BigInteger(), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("seed", sa.LargeBinary(), nullable=True),
        sa.Column("execute_ms", sa.BigInteger(), nullable=True),
        sa.Column("window_from_ms", sa.BigInteger(), nullable=False),
        sa.Column("window_to_ms", sa.BigInteger(), nullable=False),
        sa.Column("inputs_enc", sa.LargeBinary(), nullable=False),
        sa.Column("project_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_draw_tender", "draw", ["tender_ref", "id"])
    op.create_index("ix_draw_requester", "draw", ["requester", "id"])
    op.create_index("ix_draw_window", "draw", ["state", "window_from_ms"])
    op.create_table(
        "draw_member",
        sa.Column("draw_id", sa.Integer(), sa.ForeignKey("draw.id"), primary_key=True),
        sa.Column("pseud", sa.LargeBinary(), primary_key=True),
        sa.Column("expert_id", sa.Integer(), sa.ForeignKey("expert.id"), nullable=False),
        sa.Column("discs", sa.String(200), nullable=False),
        sa.Column("reasons", sa.String(200), nullable=False),
        sa.Column("idc", sa.LargeBinary(), nullable=False),
        sa.Column("salt_enc", sa.LargeBinary(), nullable=False),
        sa.Column("seat", sa.String(16), nullable=True),
        sa.Column("left", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_draw_member_expert", "draw_member", ["expert_id", "seat"])


def downgrade() -> None:
    """Drop the draw tables."""
    op.drop_index("ix_draw_member_expert", "draw_member")
    op.drop_table("draw_member")
    for index in ("ix_draw_window", "ix_draw_requester", "ix_draw_tender"):
        op.drop_index(index, "draw")
    op.drop_table("draw")
