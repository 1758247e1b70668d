"""Suggestions of 2018 codes for 2010-trial disciplines: deterministic, ranked, level 2+."""

from __future__ import annotations

import pytest

from classification import mapping, read_edition
from tests.support.tables import TABLE_2010, TABLE_2018

NEW = read_edition(TABLE_2018, "2018").edition
OLD = read_edition(TABLE_2010, "2010-trial").edition


def test_an_equal_name_comes_first_with_score_one() -> None:
    names_2018 = {d.name: d.code for d in NEW if d.level >= 2}
    checked = 0
    for old in OLD:
        if old.level >= 2 and old.name in names_2018:
            top = mapping.suggest(OLD, old.code, NEW)[0]
            assert top.score == 1.0
            assert NEW.get(top.code).name == old.name
            checked += 1
    assert checked > 100  # most 2010 names survive in 2018


def test_ranking_limits_and_levels() -> None:
    code = next(d.code for d in OLD if d.level == 3)
    found = mapping.suggest(OLD, code, NEW, limit=7)
    assert 0 < len(found) <= 7
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
    assert all(0 < s.score <= 1 and NEW.get(s.code).level >= 2 for s in found)
    assert found == mapping.suggest(OLD, code, NEW, limit=7)  # deterministic


def test_parents_break_ties_between_namesakes() -> None:
    # 电气 appears under several parents in 2018; the 2010 parent steers the choice.
    electrical = [d for d in OLD if d.level >= 2 and "电气" in d.name]
    assert electrical
    for old in electrical[:5]:
        best = mapping.suggest(OLD, old.code, NEW, limit=1)[0]
        assert "电" in NEW.get(best.code).name


def test_unknown_code() -> None:
    with pytest.raises(KeyError):
        mapping.suggest(OLD, "Z99", NEW)
