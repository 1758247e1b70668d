"""SQLModel tables of the service (the audit store has its own Core tables).

Edition tables are append-only history: each load of a table with a new digest adds an
``classification_edition_load`` row and the table's usable disciplines, so the codes an
old draw was checked against stay readable after an operator loads a corrected table.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
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
