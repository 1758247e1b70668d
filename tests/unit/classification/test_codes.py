import pytest

from classification import (
    CodeError,
    ancestors_of,
    is_in_subtree,
    level_of,
    parent_of,
    validate_code,
    validate_edition_id,
)


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [("A", 0, None), ("A08", 1, "A"), ("A0801", 2, "A08"), ("A080105", 3, "A0801")],
)
def test_level_and_parent_follow_the_prefix(code: str, level: int, parent: str | None) -> None:
    assert validate_code(code) == code
    assert level_of(code) == level
    assert parent_of(code) == parent


def test_ancestors_root_first() -> None:
    assert ancestors_of("A080105") == ("A", "A08", "A0801")
    assert ancestors_of("C") == ()


@pytest.mark.parametrize(
    "bad", ["", "D01", "a08", "A8", "A0", "A08011", "A08010101", "A0801 ", "Ａ08", "A08x1"]
)
def test_malformed_codes_are_rejected(bad: str) -> None:
    with pytest.raises(CodeError):
        validate_code(bad)


def test_subtree_membership_is_prefix_based() -> None:
    assert is_in_subtree("A080105", "A08")
    assert is_in_subtree("A08", "A08")
    assert not is_in_subtree("A0901", "A08")
    assert not is_in_subtree("A08", "A0801")


@pytest.mark.parametrize("good", ["2018", "2010-trial", "gb-2026-official", "x"])
def test_edition_ids(good: str) -> None:
    assert validate_edition_id(good) == good


@pytest.mark.parametrize("bad", ["", "-2018", "2018-", "Edition", "2018/1", "a" * 33])
def test_bad_edition_ids(bad: str) -> None:
    with pytest.raises(CodeError):
        validate_edition_id(bad)
