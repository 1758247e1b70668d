"""Reading import files: CSV and XLSX give the same messages; problems name row and column."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from cli.admin.expert_file import ImportFileError, column_of, read_rows
from expert_draw.api.v1 import expert_service_pb2 as pb

SAMPLE = Path(__file__).resolve().parents[3] / "docs" / "samples" / "experts-import.csv"


def sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_sample_reads_cleanly() -> None:
    read = read_rows(SAMPLE)
    assert read.problems == []
    assert [n for n, _ in read.rows] == [2, 3, 4]
    assert read.employer_first == {2, 3}
    first = read.rows[0][1]
    assert first.title.level == pb.Title.LEVEL_SENIOR
    assert list(first.disciplines) == [
        "editions/2018/disciplines/A010101",
        "editions/2018/disciplines/A0101",
    ]
    assert [q.qualification_name for q in first.qualifications] == [
        "一级注册建造师",
        "注册造价工程师",
    ]
    assert first.accepts_remote
    assert first.education == pb.EDUCATION_DOCTORATE
    assert [a.kind for a in first.affiliations] == [
        pb.Affiliation.KIND_EMPLOYER,
        pb.Affiliation.KIND_REGISTRATION,
    ]
    second = read.rows[1][1]
    assert second.affiliations[1].end_date.year == 2010
    assert list(read.rows[2][1].disciplines) == ["editions/2010-trial/disciplines/A01"]


def test_xlsx_with_date_and_number_cells_reads_like_csv(tmp_path: Path) -> None:
    rows = sample_rows()
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    header = list(rows[0])
    sheet.append(header)
    for row in rows:
        values: list[object] = []
        for column in header:
            value = row[column]
            if column.endswith(("_date", "_since")) and value:
                values.append(dt.datetime.fromisoformat(value))
            elif column == "phone":
                values.append(int(value))  # a spreadsheet keeps phones as numbers
            else:
                values.append(value or None)
        sheet.append(values)
    path = tmp_path / "experts.xlsx"
    book.save(path)
    from_xlsx, from_csv = read_rows(path), read_rows(SAMPLE)
    assert from_xlsx.problems == []
    assert [(n, m.SerializeToString(deterministic=True)) for n, m in from_xlsx.rows] == [
        (n, m.SerializeToString(deterministic=True)) for n, m in from_csv.rows
    ]


def test_conversion_problems_name_row_and_column(tmp_path: Path) -> None:
    rows = sample_rows()
    rows[0]["title_date"] = "2006-02-30"
    rows[0]["title_level"] = "特级"
    rows[1]["accepts_remote"] = "maybe"
    rows[1]["qualifications"] = "no date here"
    rows[2]["affiliations"] = "friend:X:2020-01-01"
    rows[2]["employer_name"] = "某公司"
    path = tmp_path / "bad.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:  # with a BOM
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        handle.write("only,three,cells\n\n")
    read = read_rows(path)
    assert [(p.row, p.column) for p in read.problems] == [
        (2, "title_level"), (2, "title_date"), (3, "accepts_remote"), (3, "qualifications"),
        (4, "employer_code"), (4, "affiliations"), (5, ""),
    ]  # fmt: skip
    assert read.rows == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fullname,phone\n", "unknown columns ['fullname']"),
        ("full_name\n", "missing columns"),
        ("full_name,full_name\n", "repeated columns ['full_name']"),
    ],
)
def test_bad_headers(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_rows(path)


def test_unreadable_files(tmp_path: Path) -> None:
    for name, data in (("x.txt", b"x"), ("x.xlsx", b"not a zip"), ("x.csv", b"\xff\xfe\x00")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImportFileError):
            read_rows(path)


@pytest.mark.parametrize(
    ("field", "employer_first", "column"),
    [
        ("phone", False, "phone"),
        ("title.level", False, "title_level"),
        ("title.obtained_date", False, "title_date"),
        ("disciplines[1]", False, "disciplines"),
        ("qualifications[0].registered_date", False, "qualifications"),
        ("affiliations[0].organization_code", True, "employer_code"),
        ("affiliations[0].start_date", True, "employer_since"),
        ("affiliations[0].start_date", False, "affiliations"),
        ("affiliations[2].end_date", True, "affiliations"),
    ],
)
def test_problem_fields_map_to_columns(field: str, employer_first: bool, column: str) -> None:
    assert column_of(field, employer_first=employer_first) == column
