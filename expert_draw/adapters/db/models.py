"""SQLModel tables of the service (the audit store has its own Core tables).

Edition tables are append-only history: each load of a table with a new digest adds an
``classification_edition_load`` row and the table's usable disciplines, so the codes an
old draw was checked against stay readable after an operator loads a corrected table.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel


class EditionLoadRow(SQLModel, table=True):
    """One loaded edition table: the edition id, the file's digest, its defect report."""

    __tablename__ = "classification_edition_load"
    __table_args__ = (UniqueConstraint("edition_id", "table_sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    edition_id: str = Field(max_length=32, index=True)
    table_sha256: str = Field(max_length=64)
    title: str = Field(max_length=200)
    row_count: int
    discipline_count: int
    defects_json: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class DisciplineRow(SQLModel, table=True):
    """One usable discipline of one loaded edition table."""

    __tablename__ = "classification_discipline"

    load_id: int = Field(foreign_key="classification_edition_load.id", primary_key=True)
    code: str = Field(max_length=16, primary_key=True)
    name: str = Field(max_length=200)
    level: int
    parent_code: str | None = Field(default=None, max_length=16)


# The expert library: SQLAlchemy Core tables on SQLModel's metadata (bulk imports insert
# rows by the thousand; Core statements avoid the ORM's per-object cost). Personal
# fields are AES-GCM ciphertexts (expert_draw.adapters.protection), NULL once erased.
# Dates are ISO text (YYYY-MM-DD), which compares in date order on both databases.

expert_table = Table(
    "expert",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # creation order
    Column("uuid", String(36), nullable=False, unique=True),
    Column("id_hash", String(100), nullable=False, unique=True),  # "<key id>:" + 64 hex
    Column("full_name_enc", LargeBinary, nullable=True),
    Column("resident_id_enc", LargeBinary, nullable=True),
    Column("phone_enc", LargeBinary, nullable=True),
    Column("email_enc", LargeBinary, nullable=True),
    Column("profile", Text, nullable=False),  # aud1 JSON of core.experts.profile_json
    Column("region_code", String(6), nullable=False),
    Column("state", String(16), nullable=False),
    Column("legacy_only", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("create_ms", BigInteger, nullable=False),
    Column("update_ms", BigInteger, nullable=False),
    Column("delete_ms", BigInteger, nullable=True),
    Index("ix_expert_state_region", "state", "region_code"),
    Index("ix_expert_state_id", "state", "id"),  # ListExperts pages in id order
)

expert_discipline_table = Table(
    "expert_discipline",
    SQLModel.metadata,
    Column("expert_id", Integer, ForeignKey("expert.id"), primary_key=True),
    Column("edition_id", String(32), primary_key=True),
    Column("code", String(16), primary_key=True),
    Index("ix_expert_discipline_code", "edition_id", "code"),
)

expert_affiliation_table = Table(
    "expert_affiliation",
    SQLModel.metadata,
    Column("expert_id", Integer, ForeignKey("expert.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("organization_code", String(18), nullable=False),
    Column("organization_name", String(128), nullable=False),
    Column("start_date", String(10), nullable=False),
    Column("end_date", String(10), nullable=True),
    Index("ix_expert_affiliation_org", "organization_code"),
)

expert_salt_table = Table(
    "expert_salt",
    SQLModel.metadata,
    Column("expert_id", Integer, ForeignKey("expert.id"), primary_key=True),
    Column("version", Integer, primary_key=True),  # the record version the entry logged
    # The salts of that version's commitments, {attribute: hex}, as one encrypted JSON
    # object: a salt in clear next to its commitment in the log would let anyone with a
    # dump try every birth date and 身份证号 (small domains). NULL once erased.
    Column("salts_enc", LargeBinary, nullable=True),
)

expert_status_table = Table(
    "expert_status_period",
    SQLModel.metadata,
    Column("expert_id", Integer, ForeignKey("expert.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),  # exclusive; NULL while it lasts
)

expert_credit_table = Table(
    "expert_credit_event",
    SQLModel.metadata,
    Column("expert_id", Integer, ForeignKey("expert.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("code", String(40), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("evidence_sha256", String(64), nullable=False),
    Column("event_ms", BigInteger, nullable=False),
)


# Draws (EDS-1). A draw row holds what was committed and where the draw stands; its
# members are the leaves and xleaves of the frozen pool. The pseudonym↔expert link is
# the secret of the draw: only the service reads it, under the disclosure matrix
# (draw-protocol.md §5.1). Secrets (``s`` before execution, salts, the replay inputs,
# the project name) are AES-GCM ciphertexts under the library's data key.

draw_table = Table(
    "draw",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("draw_id", String(56), nullable=False, unique=True),
    Column("tender_ref", LargeBinary, nullable=False),
    Column("project_ref", LargeBinary, nullable=False),
    Column("tenderer", String(18), nullable=False),  # frequency caps per expert-tenderer
    Column("supersedes", String(56), nullable=True),
    Column("requester", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("end_reason", String(40), nullable=False),
    Column("beacon", Boolean, nullable=False),
    Column("params", LargeBinary, nullable=False),
    Column("params_hash", LargeBinary, nullable=False),
    Column("pool_root", LargeBinary, nullable=False),
    Column("excluded_root", LargeBinary, nullable=False),
    Column("n_elig", Integer, nullable=False),
    Column("n_excl", Integer, nullable=False),
    Column("counts", Text, nullable=False),  # JSON [{d, n, short}] in D order
    Column("excluded_counts", Text, nullable=False),  # JSON [{reason, n}]
    Column("round", BigInteger, nullable=False),
    Column("c_s", LargeBinary, nullable=False),
    Column("s_enc", LargeBinary, nullable=True),  # until draw.execute reveals it
    # Every member's salt in one sealed blob: JSON {hex pseudonym: hex salt}.
    Column("salts_enc", LargeBinary, nullable=True),
    Column("envelopes", Text, nullable=False),  # JSON [hex]
    Column("commit_digest", LargeBinary, nullable=False),
    Column("commit_seq", BigInteger, nullable=True),
    Column("commit_ms", BigInteger, nullable=False),
    Column("nonce_deadline_ms", BigInteger, nullable=True),
    Column("nonce", LargeBinary, nullable=True),
    Column("seed", LargeBinary, nullable=True),
    Column("execute_ms", BigInteger, nullable=True),
    Column("window_from_ms", BigInteger, nullable=False),
    Column("window_to_ms", BigInteger, nullable=False),
    Column("inputs_enc", LargeBinary, nullable=False),  # the replay inputs (aud1 bytes)
    Column("project_name_enc", LargeBinary, nullable=True),
    Column("version", Integer, nullable=False),
    Index("ix_draw_tender", "tender_ref", "id"),
    Index("ix_draw_requester", "requester", "id"),
    Index("ix_draw_project", "project_ref", "id"),
    Index("ix_draw_window", "state", "window_from_ms"),
)

draw_member_table = Table(
    "draw_member",
    SQLModel.metadata,
    Column("draw_id", Integer, ForeignKey("draw.id"), primary_key=True),
    Column("pseud", LargeBinary, primary_key=True),
    Column("expert_id", Integer, ForeignKey("expert.id"), nullable=False),
    Column("discs", String(200), nullable=False),  # space-separated codes, ascending
    Column("reasons", String(200), nullable=False),  # space-separated, empty = eligible
    Column("idc", LargeBinary, nullable=False),  # H(enc("EDS1/idc", salt, uuid)): public
    Column("salt_enc", LargeBinary, nullable=True),  # before 0007; now draw.salts_enc
    Column("seat", String(16), nullable=True),  # the discipline of the seat it holds
    Column("left", Boolean, nullable=False),  # declined or struck
    # Only members that hold or held a seat: the few rows the schedule checks read, and
    # nothing to maintain for the hundreds of unseated leaves a commit inserts.
    Index(
        "ix_draw_member_seated",
        "expert_id",
        "left",
        "draw_id",
        sqlite_where=text("seat IS NOT NULL"),
        postgresql_where=text("seat IS NOT NULL"),
    ),
    # A draw's seats (GetDraw, ListDraws, the BUSY check) without its unseated leaves.
    Index(
        "ix_draw_member_draw_seats",
        "draw_id",
        "seat",
        "pseud",
        sqlite_where=text("seat IS NOT NULL"),
        postgresql_where=text("seat IS NOT NULL"),
    ),
)
