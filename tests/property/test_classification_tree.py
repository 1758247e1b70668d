"""Property tests: tree queries agree with the prefix definitions on random editions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from classification import parse_edition
from classification.codes import ancestors_of, parent_of
from classification.edition import MatchKind
from tests.support.tables import csv_bytes


@st.composite
def code_sets(draw: st.DrawFn) -> set[str]:
    """A set of codes closed under taking parents (a valid tree)."""
    codes: set[str] = set()
    for letter in draw(st.sets(st.sampled_from("ABC"), min_size=1)):
        frontier = [letter]
        codes.add(letter)
        while frontier:
            code = frontier.pop()
            if len(code) >= 7:
                continue
            suffixes = draw(st.sets(st.integers(1, 99), max_size=4 if len(code) > 1 else 3))
            for n in suffixes:
                child = f"{code}{n:02d}"
                codes.add(child)
                frontier.append(child)
    return codes


def table(codes: set[str], order: list[str], names: dict[str, str]) -> bytes:
    return csv_bytes(*(f"{c},{names[c]},{(len(c) - 1) // 2},{parent_of(c) or ''}" for c in order))


@st.composite
def editions(draw: st.DrawFn) -> tuple[set[str], list[str], dict[str, str]]:
    codes = draw(code_sets())
    order = draw(st.permutations(sorted(codes)))
    names = {c: f"名{c}" for c in codes}
    return codes, list(order), names


Case = tuple[set[str], list[str], dict[str, str]]


def check_queries(case: Case) -> None:
    codes, order, names = case
    result = parse_edition(table(codes, order, names), "p")
    edition = result.edition
    assert result.defects == ()
    assert [d.code for d in edition] == sorted(codes)
    for code in codes:
        assert [a.code for a in edition.ancestors(code)] == list(ancestors_of(code))
        children = sorted(c for c in codes if parent_of(c) == code)
        assert [d.code for d in edition.children(code)] == children
        assert edition.is_leaf(code) == (not children)
        subtree = sorted(c for c in codes if c.startswith(code))
        assert [d.code for d in edition.subtree(code)] == subtree
        for other in codes:
            assert edition.is_in_subtree(other, code) == other.startswith(code)
    roots = sorted(c for c in codes if len(c) == 1)
    assert [d.code for d in edition.children(None)] == roots


def check_search(case: Case, data: st.DataObject) -> None:
    codes, order, names = case
    edition = parse_edition(table(codes, order, names), "p").edition
    code = data.draw(st.sampled_from(sorted(codes)))
    by_code = edition.search(code.lower())
    assert {h.discipline.code for h in by_code if h.match is MatchKind.CODE} == {
        c for c in codes if c.startswith(code)
    }
    by_name = edition.search(names[code])
    assert by_name[0].discipline.code == code
    assert by_name[0].match is MatchKind.NAME_EXACT


def check_wrong_parent(case: Case, data: st.DataObject) -> None:
    codes, order, names = case
    non_roots = sorted(c for c in codes if len(c) > 1)
    if not non_roots:
        return
    victim = data.draw(st.sampled_from(non_roots))
    rows = [
        f"{c},{names[c]},{(len(c) - 1) // 2},{'Z' if c == victim else parent_of(c) or ''}"
        for c in order
    ]
    result = parse_edition(csv_bytes(*rows), "p")
    assert result.defect_strings() == [f"parent_prefix_mismatch:{victim}"]
    assert [d.code for d in result.edition] == sorted(codes)


def check_duplicate(case: Case, data: st.DataObject) -> None:
    codes, order, names = case
    victim = data.draw(st.sampled_from(sorted(codes)))
    result = parse_edition(table(codes, [*order, victim], names), "p")
    lost = sorted(c for c in codes if c.startswith(victim) and c != victim)
    assert result.defect_strings() == [f"duplicate_code:{victim}"] + [
        f"missing_parent:{c}" for c in sorted(lost, key=lambda c: (len(c), c))
    ]
    assert [d.code for d in result.edition] == sorted(c for c in codes if not c.startswith(victim))


@given(editions())
def test_queries_match_prefix_definitions(case: Case) -> None:
    check_queries(case)


@given(editions(), st.data())
def test_search_finds_codes_and_names(case: Case, data: st.DataObject) -> None:
    check_search(case, data)


@given(editions(), st.data())
def test_wrong_parent_column_is_repaired_and_reported(case: Case, data: st.DataObject) -> None:
    check_wrong_parent(case, data)


@given(editions(), st.data())
def test_duplicated_code_removes_it_and_its_subtree(case: Case, data: st.DataObject) -> None:
    check_duplicate(case, data)
