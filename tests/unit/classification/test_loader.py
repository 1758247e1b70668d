import hashlib

import pytest

from classification import CodeError, DefectKind, EditionFormatError, parse_edition, read_edition
from tests.support.tables import SMALL, TABLE_2010, TABLE_2018, csv_bytes

A05_SHIFTED = [f"A0518{n:02d}" for n in range(1, 6)] + [
    *(f"A0521{n:02d}" for n in range(1, 22)),
    "A052199",
]


def test_2018_table_reports_exactly_its_known_defects() -> None:
    result = read_edition(TABLE_2018, "2018")
    assert result.rows == 2140
    assert result.edition.level_counts() == (3, 31, 313, 1793)
    expected = [f"parent_prefix_mismatch:{code}" for code in A05_SHIFTED]
    expected += ["duplicate_name:B090119", "duplicate_name:B090123"]
    assert result.defect_strings() == expected
    assert len(expected) == 29


def test_2018_shifted_rows_are_reparented_by_prefix() -> None:
    edition = read_edition(TABLE_2018, "2018").edition
    assert [d.code for d in edition.children("A0518")] == A05_SHIFTED[:5]
    assert [d.code for d in edition.children("A0521")] == A05_SHIFTED[5:]
    for leaf in ("A0516", "A0520", "A0522"):
        assert edition.is_leaf(leaf)
    level2_leaves = [d for d in edition if d.level == 2 and edition.is_leaf(d.code)]
    assert len(level2_leaves) == 84


def test_2018_duplicate_names_stay_usable() -> None:
    edition = read_edition(TABLE_2018, "2018").edition
    assert edition.get("B090119").name == edition.get("B090123").name == "劳动防护用品"


def test_2010_duplicate_codes_are_unusable() -> None:
    result = read_edition(TABLE_2010, "2010-trial")
    assert result.defect_strings() == ["duplicate_code:A040405", "duplicate_code:B011305"]
    assert result.rows == 1743
    assert "A040405" not in result.edition
    assert "B011305" not in result.edition
    assert result.edition.level_counts() == (3, 30, 256, 1450)


def test_digest_is_sha256_of_the_file_bytes() -> None:
    data = TABLE_2018.read_bytes()
    assert read_edition(TABLE_2018, "2018").digest == hashlib.sha256(data).hexdigest()


def test_clean_table_has_no_defects() -> None:
    result = parse_edition(SMALL, "t")
    assert result.defects == ()
    assert len(result.edition) == 8


@pytest.mark.parametrize(
    ("rows", "kind", "subject", "usable"),
    [
        (["A,工程类,0,", "A08,施工,1"], DefectKind.BAD_ROW, "line-3", []),
        (["A,工程类,0,", "A8,施工,1,A"], DefectKind.BAD_CODE, "line-3", []),
        (["A,工程类,0,", "A08, ,1,A"], DefectKind.BAD_NAME, "A08", []),
        (["A,工程类,0,", "A08,施工,2,A"], DefectKind.LEVEL_MISMATCH, "A08", ["A08"]),
        (["A,工程类,0,", "A08,施工,x,A"], DefectKind.LEVEL_MISMATCH, "A08", ["A08"]),
        (["A,工程类,0,", "A08,施工,1,B"], DefectKind.PARENT_PREFIX_MISMATCH, "A08", ["A08"]),
        (["A,工程类,0,", "A08,施工,1,"], DefectKind.PARENT_PREFIX_MISMATCH, "A08", ["A08"]),
        (["A,工程类,0,", "A08,施工,1,A", "A08,施工,1,A"], DefectKind.DUPLICATE_CODE, "A08", []),
        (["A,工程类,0,", "A0801,建筑,2,A08"], DefectKind.MISSING_PARENT, "A0801", []),
    ],
)
def test_each_defect_kind(
    rows: list[str], kind: DefectKind, subject: str, usable: list[str]
) -> None:
    result = parse_edition(csv_bytes(*rows), "t")
    assert [(d.kind, d.subject) for d in result.defects] == [(kind, subject)]
    assert [d.code for d in result.edition if d.level > 0] == usable


def test_children_of_an_unusable_code_are_orphans() -> None:
    table = csv_bytes("A,工程类,0,", "A08,施工,1,A", "A08,施工,1,A", "A0801,建筑,2,A08")
    result = parse_edition(table, "t")
    assert result.defect_strings() == ["duplicate_code:A08", "missing_parent:A0801"]
    assert list(result.edition) == [result.edition.get("A")]


def test_duplicate_names_only_among_siblings() -> None:
    table = csv_bytes("A,工程类,0,", "A08,其他,1,A", "A09,其他,1,A", "A0801,其他,2,A08")
    result = parse_edition(table, "t")
    assert result.defect_strings() == ["duplicate_name:A08", "duplicate_name:A09"]


def test_names_are_nfc_normalized_and_bom_accepted() -> None:
    decomposed = "e\u0301"
    table = b"\xef\xbb\xbf" + csv_bytes("A,工程类,0,", f"A08,{decomposed},1,A")
    assert parse_edition(table, "t").edition.get("A08").name == "\u00e9"


def test_quoted_fields_with_commas() -> None:
    table = csv_bytes("A,工程类,0,", 'A08,"施工,安装",1,A')
    assert parse_edition(table, "t").edition.get("A08").name == "施工,安装"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "header"),
        (b"code,name\nA,x\n", "header"),
        (b"\xff\xfe" + "code".encode("utf-16-le"), "UTF-8"),
        (b"x" * (16 * 1024 * 1024 + 1), "larger"),
    ],
)
def test_files_that_are_not_tables_fail_clearly(data: bytes, message: str) -> None:
    with pytest.raises(EditionFormatError, match=message):
        parse_edition(data, "t")


def test_malformed_edition_id() -> None:
    with pytest.raises(CodeError):
        parse_edition(SMALL, "Bad Id")


def test_blank_lines_are_ignored() -> None:
    table = SMALL + b"\n\n"
    result = parse_edition(table, "t")
    assert result.rows == 8
    assert result.defects == ()
