import pytest

from classification import Discipline, Edition, parse_edition
from classification.edition import MatchKind
from tests.support.tables import SMALL


@pytest.fixture
def edition() -> Edition:
    return parse_edition(SMALL, "t").edition


def codes(items: object) -> list[str]:
    return [d.code for d in items]  # type: ignore[attr-defined]


def test_children_and_roots(edition: Edition) -> None:
    assert codes(edition.children(None)) == ["A", "B"]
    assert codes(edition.children("A08")) == ["A0801", "A0802"]
    assert edition.children("A080101") == ()


def test_ancestors(edition: Edition) -> None:
    assert codes(edition.ancestors("A080105")) == ["A", "A08", "A0801"]


def test_subtree_is_contiguous_code_range(edition: Edition) -> None:
    assert codes(edition.subtree("A08")) == ["A08", "A0801", "A080101", "A080105", "A0802"]
    assert codes(edition.subtree("B")) == ["B", "B01"]
    assert len(edition.subtree(None)) == len(edition)


def test_subtree_membership(edition: Edition) -> None:
    assert edition.is_in_subtree("A080105", "A08")
    assert not edition.is_in_subtree("B01", "A")
    assert not edition.is_in_subtree("A089999", "A08")  # unknown code


def test_unknown_codes_raise(edition: Edition) -> None:
    for query in (
        edition.get,
        edition.children,
        edition.ancestors,
        edition.subtree,
        edition.is_leaf,
    ):
        with pytest.raises(KeyError):
            query("A0999")
    assert edition.find("A0999") is None


def test_search_ranks_code_exact_prefix_contains_path(edition: Edition) -> None:
    hits = edition.search("电气工程")
    assert [(h.discipline.code, h.match) for h in hits] == [("A080105", MatchKind.NAME_EXACT)]
    assert codes(h.discipline for h in edition.search("a08")) == [
        "A08", "A0801", "A0802", "A080101", "A080105",
    ]  # fmt: skip
    path_hits = edition.search("建筑 电气")
    assert [(h.discipline.code, h.match) for h in path_hits] == [
        ("A080105", MatchKind.PATH_CONTAINS)
    ]
    assert [(h.discipline.code, h.match) for h in edition.search("工程")] == [
        ("A", MatchKind.NAME_PREFIX), ("A08", MatchKind.NAME_PREFIX),
        ("A0801", MatchKind.NAME_CONTAINS), ("A0802", MatchKind.NAME_CONTAINS),
        ("A080105", MatchKind.NAME_CONTAINS), ("A080101", MatchKind.PATH_CONTAINS),
    ]  # fmt: skip
    assert edition.search("不存在") == []


def test_search_rejects_empty_query(edition: Edition) -> None:
    with pytest.raises(ValueError, match="empty"):
        edition.search("   ")


def test_constructor_rejects_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Edition("t", "0", [Discipline("A", "x", 0, None), Discipline("A", "y", 0, None)])
    with pytest.raises(ValueError, match="parent"):
        Edition("t", "0", [Discipline("A08", "x", 1, "A")])
