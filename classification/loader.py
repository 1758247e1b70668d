"""Parse and validate an edition table (CSV ``code,name,level,parent_code``).

Defects are reported, never silently accepted and never fatal (domain-rules.md §3):

- the code prefix is authoritative: a row whose ``parent_code`` disagrees with its
  prefix is re-parented by prefix and flagged ``parent_prefix_mismatch``;
- a duplicated code is unusable (no row is loaded as that code), ``duplicate_code``;
- siblings sharing one name stay usable, each flagged ``duplicate_name``.

Only a file that is not such a table at all (not UTF-8, wrong header, too large)
raises :class:`EditionFormatError`.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from classification.codes import CODE_PATTERN, level_of, parent_of, validate_edition_id
from classification.edition import Discipline, Edition

if TYPE_CHECKING:
    from pathlib import Path

HEADER = ("code", "name", "level", "parent_code")
MAX_TABLE_BYTES = 16 * 1024 * 1024
MAX_NAME_CHARS = 200


class EditionFormatError(ValueError):
    """The file is not an edition table (encoding, header or size)."""


class DefectKind(enum.StrEnum):
    """Kinds of defect; the comment says what the loader does with the row."""

    BAD_ROW = "bad_row"  # wrong number of columns: row skipped
    BAD_CODE = "bad_code"  # code not of the national form: row skipped
    BAD_NAME = "bad_name"  # empty or overlong name: row skipped
    LEVEL_MISMATCH = "level_mismatch"  # level column disagrees with the code: code wins
    PARENT_PREFIX_MISMATCH = "parent_prefix_mismatch"  # re-parented by prefix
    DUPLICATE_CODE = "duplicate_code"  # every row of that code skipped
    MISSING_PARENT = "missing_parent"  # prefix parent absent or unusable: row skipped
    DUPLICATE_NAME = "duplicate_name"  # siblings share a name: both stay usable


@dataclass(frozen=True, slots=True)
class Defect:
    """One finding of the loader; ``subject`` is the code, or ``line-N`` without one."""

    kind: DefectKind
    subject: str
    detail: str

    def __str__(self) -> str:
        """Return the ``<kind>:<code>`` form logged in ``classification.load``."""
        return f"{self.kind}:{self.subject}"


@dataclass(frozen=True, slots=True)
class LoadResult:
    """An edition as loaded: its usable disciplines, its defects and its digest."""

    edition: Edition
    defects: tuple[Defect, ...]
    rows: int

    @property
    def digest(self) -> str:
        """Lowercase hex SHA-256 of the table file bytes."""
        return self.edition.digest

    def defect_strings(self) -> list[str]:
        """Return the defects as ``<kind>:<code>`` strings, in report order."""
        return [str(defect) for defect in self.defects]


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    code: str
    name: str
    parent: str | None


def read_edition(path: Path, edition_id: str) -> LoadResult:
    """Read and parse an edition table file.

    Raises:
        OSError: the file cannot be read.
        EditionFormatError: the file is not an edition table.
        classification.CodeError: ``edition_id`` is malformed.
    """
    with path.open("rb") as handle:
        data = handle.read(MAX_TABLE_BYTES + 1)
    return parse_edition(data, edition_id)


def parse_edition(data: bytes, edition_id: str) -> LoadResult:
    """Parse an edition table's bytes into usable disciplines and a defect report.

    Raises:
        EditionFormatError: the bytes are not an edition table.
        classification.CodeError: ``edition_id`` is malformed.
    """
    validate_edition_id(edition_id)
    if len(data) > MAX_TABLE_BYTES:
        msg = f"edition table larger than {MAX_TABLE_BYTES} bytes"
        raise EditionFormatError(msg)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"edition table is not UTF-8: {exc.reason} at byte {exc.start}"
        raise EditionFormatError(msg) from None
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not records or tuple(cell.strip() for cell in records[0]) != HEADER:
        msg = f"edition table must start with the header {','.join(HEADER)}"
        raise EditionFormatError(msg)
    defects: list[Defect] = []
    rows = [
        row
        for line, record in enumerate(records[1:], start=2)
        if record and (row := _parse_row(line, record, defects)) is not None
    ]
    usable = _drop_duplicates(rows, defects)
    usable = _drop_orphans(usable, defects)
    _flag_duplicate_names(usable, defects)
    digest = hashlib.sha256(data).hexdigest()
    disciplines = (Discipline(r.code, r.name, level_of(r.code), r.parent) for r in usable)
    edition = Edition(edition_id, digest, disciplines)
    return LoadResult(edition, tuple(defects), sum(1 for r in records[1:] if r))


def _parse_row(line: int, record: list[str], defects: list[Defect]) -> _Row | None:
    if len(record) != len(HEADER):
        detail = f"line {line}: {len(record)} columns, expected {len(HEADER)}"
        defects.append(Defect(DefectKind.BAD_ROW, f"line-{line}", detail))
        return None
    raw_code, raw_name, raw_level, raw_parent = (cell.strip() for cell in record)
    if CODE_PATTERN.fullmatch(raw_code) is None:
        detail = f"line {line}: code {raw_code[:32]!r} is not of the form A0801..."
        defects.append(Defect(DefectKind.BAD_CODE, f"line-{line}", detail))
        return None
    code = raw_code
    name = unicodedata.normalize("NFC", raw_name)
    if not name or len(name) > MAX_NAME_CHARS:
        detail = f"line {line}: name is empty or longer than {MAX_NAME_CHARS} characters"
        defects.append(Defect(DefectKind.BAD_NAME, code, detail))
        return None
    if raw_level != str(level_of(code)):
        detail = f"line {line}: level {raw_level[:8]!r}, code says {level_of(code)}"
        defects.append(Defect(DefectKind.LEVEL_MISMATCH, code, detail))
    parent = parent_of(code)
    if raw_parent != (parent or ""):
        detail = f"line {line}: parent_code {raw_parent[:16]!r}, re-parented to {parent!r}"
        defects.append(Defect(DefectKind.PARENT_PREFIX_MISMATCH, code, detail))
    return _Row(line, code, name, parent)


def _drop_duplicates(rows: list[_Row], defects: list[Defect]) -> list[_Row]:
    lines: dict[str, list[int]] = {}
    for row in rows:
        lines.setdefault(row.code, []).append(row.line)
    for code, found in lines.items():
        if len(found) > 1:
            detail = f"lines {', '.join(map(str, found))}: code unusable"
            defects.append(Defect(DefectKind.DUPLICATE_CODE, code, detail))
    return [row for row in rows if len(lines[row.code]) == 1]


def _drop_orphans(rows: list[_Row], defects: list[Defect]) -> list[_Row]:
    usable: dict[str, _Row] = {}
    for row in sorted(rows, key=lambda r: (len(r.code), r.code)):
        if row.parent is None or row.parent in usable:
            usable[row.code] = row
        else:
            detail = f"line {row.line}: parent {row.parent} is absent or unusable"
            defects.append(Defect(DefectKind.MISSING_PARENT, row.code, detail))
    return sorted(usable.values(), key=lambda r: r.code)


def _flag_duplicate_names(rows: list[_Row], defects: list[Defect]) -> None:
    siblings: dict[tuple[str | None, str], list[str]] = {}
    for row in rows:
        siblings.setdefault((row.parent, row.name), []).append(row.code)
    for (parent, name), codes in siblings.items():
        if len(codes) > 1:
            for code in codes:
                detail = f"{name!r} is used by {', '.join(codes)} under {parent}"
                defects.append(Defect(DefectKind.DUPLICATE_NAME, code, detail))
