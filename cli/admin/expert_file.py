"""Reading an expert import file (docs/import-format.md) into Expert messages.

A row that cannot be converted is reported with its row number (the header is row 1),
its column and why; the service's problems, which name message fields, map back to
columns with :func:`column_of`. Values are never echoed in problems.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from expert_draw.api.v1 import expert_service_pb2 as pb

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from google.type import date_pb2

REQUIRED = (
    "full_name", "resident_id_number", "phone", "title_level", "title_name", "title_date",
    "work_start_date", "disciplines", "region_code", "library_type", "review",
)  # fmt: skip
OPTIONAL = (
    "email", "qualifications", "accepts_remote", "declaration_date", "training_date",
    "age_exempt", "affiliations", "employer_code", "employer_name", "employer_since",
    "education",
)  # fmt: skip
COLUMNS = frozenset(REQUIRED + OPTIONAL)
CURRENT_EDITION = "2018"  # the default; the import command asks the service

_LEVELS = {
    "初级": pb.Title.LEVEL_JUNIOR, "junior": pb.Title.LEVEL_JUNIOR,
    "中级": pb.Title.LEVEL_INTERMEDIATE, "intermediate": pb.Title.LEVEL_INTERMEDIATE,
    "副高级": pb.Title.LEVEL_ASSOCIATE_SENIOR, "副高": pb.Title.LEVEL_ASSOCIATE_SENIOR,
    "associate_senior": pb.Title.LEVEL_ASSOCIATE_SENIOR,
    "正高级": pb.Title.LEVEL_SENIOR, "正高": pb.Title.LEVEL_SENIOR, "senior": pb.Title.LEVEL_SENIOR,
}  # fmt: skip
_LIBRARIES = {
    "provincial": pb.Expert.LIBRARY_TYPE_PROVINCIAL,
    "state_council": pb.Expert.LIBRARY_TYPE_STATE_COUNCIL,
    "other": pb.Expert.LIBRARY_TYPE_OTHER,
}
_REVIEWS = {"approved": pb.Expert.REVIEW_APPROVED, "provisional": pb.Expert.REVIEW_PROVISIONAL}
_KINDS = {
    "employer": pb.Affiliation.KIND_EMPLOYER,
    "registration": pb.Affiliation.KIND_REGISTRATION,
    "declared_avoid": pb.Affiliation.KIND_DECLARED_AVOID,
    "relative": pb.Affiliation.KIND_RELATIVE,
    "supervising_post": pb.Affiliation.KIND_SUPERVISING_POST,
}
_EDUCATION = {
    "博士": pb.EDUCATION_DOCTORATE, "doctorate": pb.EDUCATION_DOCTORATE,
    "硕士": pb.EDUCATION_MASTER, "master": pb.EDUCATION_MASTER,
    "本科": pb.EDUCATION_BACHELOR, "bachelor": pb.EDUCATION_BACHELOR,
    "大专": pb.EDUCATION_ASSOCIATE, "专科": pb.EDUCATION_ASSOCIATE,
    "associate": pb.EDUCATION_ASSOCIATE,
    "其他": pb.EDUCATION_OTHER, "other": pb.EDUCATION_OTHER,
}  # fmt: skip
_TRUE = frozenset({"是", "true", "1", "yes", "y"})
_FALSE = frozenset({"否", "false", "0", "no", "n", ""})
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_CODE = re.compile(r"(?:([0-9a-z][0-9a-z-]*):)?([A-Z0-9]+)")

Cell = str | dt.date | dt.datetime | dt.time | dt.timedelta | float | int | bool | None


class ImportFileError(Exception):
    """The file cannot be read as an import file at all (format, header)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A problem of one row: its number, the column, and why."""

    row: int
    column: str
    description: str


@dataclass
class ReadRows:
    """The converted rows (row number, message) and the rows' conversion problems."""

    rows: list[tuple[int, pb.Expert]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    employer_first: set[int] = field(
        default_factory=set
    )  # rows whose affiliations[0] is employer_*


def read_table(path: Path) -> Iterator[tuple[int, dict[str, Cell]]]:
    """Yield ``(row number, {column: cell})`` of a CSV or XLSX file.

    Raises:
        ImportFileError: an unreadable file, an unknown suffix, or a bad header.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_rows(path)
    elif suffix in {".xlsx", ".xlsm"}:
        yield from _xlsx_rows(path)
    else:
        msg = f"{path.name}: expected a .csv or .xlsx file"
        raise ImportFileError(msg)


def _header(cells: Sequence[Cell], name: str) -> list[str]:
    header = [str(c).strip() if c is not None else "" for c in cells]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if unknown or missing or duplicated:
        parts = [f"unknown columns {unknown}" if unknown else "",
                 f"missing columns {missing}" if missing else "",
                 f"repeated columns {duplicated}" if duplicated else ""]  # fmt: skip
        msg = f"{name}: header row: {'; '.join(p for p in parts if p)}"
        raise ImportFileError(msg)
    return header


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Cell]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = _header(next(reader, []), path.name)
            for number, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    yield number, {"": f"{len(cells)} cells, the header has {len(header)}"}
                    continue
                yield number, dict(zip(header, cells, strict=True))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        msg = f"{path.name}: {exc}"
        raise ImportFileError(msg) from None


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, Cell]]]:
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - platforms without a calamine wheel
        yield from _openpyxl_rows(path)
        return
    try:
        with CalamineWorkbook.from_path(str(path)) as book:
            rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # noqa: BLE001 - calamine raises several unrelated types
        msg = f"{path.name}: not a readable XLSX workbook ({type(exc).__name__})"
        raise ImportFileError(msg) from None
    yield from _sheet_rows(rows, path.name)


def _openpyxl_rows(path: Path) -> Iterator[tuple[int, dict[str, Cell]]]:  # pragma: no cover
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
    yield from _sheet_rows(rows, path.name)  # type: ignore[arg-type]


def _sheet_rows(rows: Sequence[Sequence[Cell]], name: str) -> Iterator[tuple[int, dict[str, Cell]]]:
    if not rows:
        msg = f"{name}: the first worksheet is empty"
        raise ImportFileError(msg)
    header = _header(rows[0], name)
    for number, cells in enumerate(rows[1:], start=2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        padded = [*cells, *([None] * (len(header) - len(cells)))]
        yield number, dict(zip(header, padded[: len(header)], strict=True))


class _Row:
    """Converts the cells of one row, collecting problems by column."""

    def __init__(self, number: int, cells: dict[str, Cell], problems: list[RowProblem]) -> None:
        self.number, self.cells, self.problems = number, cells, problems

    def problem(self, column: str, description: str) -> None:
        self.problems.append(RowProblem(self.number, column, description))

    def text(self, column: str) -> str:
        value = self.cells.get(column)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a number cell: 13912345678.0 is 13912345678
        return str(value).strip()

    def date(self, column: str, text: str | None = None) -> date_pb2.Date | None:
        from google.type import date_pb2

        value = self.cells.get(column) if text is None else text
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return date_pb2.Date(year=value.year, month=value.month, day=value.day)
        raw = "" if value is None else str(value).strip()
        if not raw:
            return None
        match = _DATE.fullmatch(raw)
        parsed = None
        if match is not None:
            try:
                parsed = dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                parsed = None
        if parsed is None:
            self.problem(column, "not a date (YYYY-MM-DD)")
            return None
        return date_pb2.Date(year=parsed.year, month=parsed.month, day=parsed.day)

    def flag(self, column: str) -> bool:
        value = self.cells.get(column)
        if isinstance(value, bool):
            return value
        text = self.text(column).lower()
        if text in _TRUE:
            return True
        if text not in _FALSE:
            self.problem(column, "expected 是/否, true/false, 1/0 or yes/no")
        return False

    def choice(self, column: str, table: dict[str, int]) -> int:
        text = self.text(column)
        key = text if text in table else text.lower()
        if key in table:
            return table[key]
        if text:
            self.problem(column, f"expected one of {', '.join(table)}")
        return 0


def to_expert(
    number: int,
    cells: dict[str, Cell],
    problems: list[RowProblem],
    current_edition: str = CURRENT_EDITION,
) -> tuple[pb.Expert, bool]:
    """Convert one row; problems go to ``problems``.

    Returns the message and whether its first affiliation came from ``employer_*``.
    """
    row = _Row(number, cells, problems)
    if "" in cells:
        row.problem("", str(cells[""]))
        return pb.Expert(), False
    expert = pb.Expert(
        full_name=row.text("full_name"),
        resident_id_number=row.text("resident_id_number").upper(),
        phone=row.text("phone"),
        email=row.text("email"),
        title=pb.Title(level=row.choice("title_level", _LEVELS), title_name=row.text("title_name"),  # type: ignore[arg-type]
                       obtained_date=row.date("title_date")),
        work_start_date=row.date("work_start_date"),
        region_code=row.text("region_code"),
        accepts_remote=row.flag("accepts_remote"),
        library_type=row.choice("library_type", _LIBRARIES),  # type: ignore[arg-type]
        review=row.choice("review", _REVIEWS),  # type: ignore[arg-type]
        declaration_date=row.date("declaration_date"),
        training_date=row.date("training_date"),
        age_exempt=row.flag("age_exempt"),
        education=row.choice("education", _EDUCATION),  # type: ignore[arg-type]
    )  # fmt: skip
    _disciplines(row, expert, current_edition)
    _qualifications(row, expert)
    return expert, _affiliations(row, expert)


def _disciplines(row: _Row, expert: pb.Expert, current_edition: str) -> None:
    for item in _items(row.text("disciplines")):
        match = _CODE.fullmatch(item)
        if match is None:
            row.problem("disciplines", "codes such as A010101 or 2010-trial:A01, separated by ;")
            continue
        edition, code = match.group(1) or current_edition, match.group(2)
        expert.disciplines.append(f"editions/{edition}/disciplines/{code}")


def _qualifications(row: _Row, expert: pb.Expert) -> None:
    for item in _items(row.text("qualifications")):
        name, sep, when = item.rpartition("@")
        if not sep or not name.strip():
            row.problem("qualifications", "items name@date separated by ;")
            continue
        registered = row.date("qualifications", when)
        expert.qualifications.append(
            pb.Qualification(qualification_name=name.strip(), registered_date=registered)
        )


def _affiliations(row: _Row, expert: pb.Expert) -> bool:
    """Add the employer shorthand and the ``affiliations`` items.

    Returns True if the first affiliation is the employer shorthand.
    """
    employer = bool(row.text("employer_code"))
    if employer:
        expert.affiliations.append(pb.Affiliation(
            kind=pb.Affiliation.KIND_EMPLOYER, organization_code=row.text("employer_code").upper(),
            organization_name=row.text("employer_name"), start_date=row.date("employer_since"),
        ))  # fmt: skip
    elif row.text("employer_name") or row.text("employer_since"):
        row.problem("employer_code", "required with employer_name or employer_since")
    for item in _items(row.text("affiliations")):
        parts = item.split(":")
        if len(parts) not in (3, 4) or parts[0] not in _KINDS:
            row.problem("affiliations", "items kind:credit-code:start[:end] separated by ;")
            continue
        affiliation = pb.Affiliation(
            kind=_KINDS[parts[0]], organization_code=parts[1].strip().upper(),
            start_date=row.date("affiliations", parts[2]),
        )  # fmt: skip
        if len(parts) == 4:  # noqa: PLR2004 - kind, code, start, end
            end = row.date("affiliations", parts[3])
            if end is not None:
                affiliation.end_date.CopyFrom(end)
        expert.affiliations.append(affiliation)
    return employer


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.replace("；", ";").split(";") if item.strip()]


def read_rows(path: Path, current_edition: str = CURRENT_EDITION) -> ReadRows:
    """Read and convert every row of ``path``; bare codes are of ``current_edition``.

    Raises:
        ImportFileError: the file cannot be read as an import file.
    """
    result = ReadRows()
    for number, cells in read_table(path):
        before = len(result.problems)
        expert, employer = to_expert(number, cells, result.problems, current_edition)
        if len(result.problems) == before:
            result.rows.append((number, expert))
            if employer:
                result.employer_first.add(number)
    return result


_INDEXED = re.compile(r"(\w+)\[(\d+)\](?:\.(\w+))?")
_TITLE = {"level": "title_level", "title_name": "title_name", "obtained_date": "title_date"}
_EMPLOYER = {"organization_code": "employer_code", "organization_name": "employer_name",
             "start_date": "employer_since", "kind": "employer_code"}  # fmt: skip


def column_of(field_path: str, *, employer_first: bool) -> str:
    """The file column of a service problem's field path (e.g. ``title.obtained_date``)."""
    if field_path.startswith("title."):
        return _TITLE.get(field_path.removeprefix("title."), "title_name")
    match = _INDEXED.fullmatch(field_path)
    if match is None:
        return {"title": "title_name"}.get(field_path, field_path)
    collection, index, member = match.group(1), int(match.group(2)), match.group(3) or ""
    if collection == "affiliations" and employer_first and index == 0:
        return _EMPLOYER.get(member, "employer_code")
    return collection
