"""Checksums of 身份证号 and 统一社会信用代码: valid ones pass, every single error is caught."""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import given
from hypothesis import strategies as st

from expert_draw.core.identifiers import (
    USCC_ALPHABET,
    region_code_problem,
    resident_id_check,
    resident_id_problem,
    uscc_check,
    uscc_problem,
)

SAMPLE_ID = "11010519491231002X"  # the worked example of GB 11643-1999


def test_published_sample() -> None:
    assert resident_id_problem(SAMPLE_ID) is None
    assert resident_id_problem(SAMPLE_ID[:-1] + "1") == "check digit does not match (GB 11643)"
    assert resident_id_problem("11010519491331002X") in {
        "birth date part is not a date",
        "check digit does not match (GB 11643)",
    }
    assert resident_id_problem("1101051949123100") is not None


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = f"{draw(st.integers(11, 82))}{draw(st.integers(0, 9999)):04d}"
    birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2010, 12, 31)))
    first17 = f"{region}{birth:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + resident_id_check(first17)


@given(resident_ids(), st.integers(0, 17), st.sampled_from(string.digits + "X"))
def test_resident_ids(value: str, position: int, replacement: str) -> None:
    assert resident_id_problem(value) is None
    changed = value[:position] + replacement + value[position + 1 :]
    if changed != value:
        assert resident_id_problem(changed) is not None


@st.composite
def usccs(draw: st.DrawFn) -> str:
    first17 = "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=17, max_size=17)))
    return first17 + uscc_check(first17)


@given(usccs(), st.integers(0, 17), st.sampled_from(USCC_ALPHABET))
def test_uscc(value: str, position: int, replacement: str) -> None:
    assert uscc_problem(value) is None
    changed = value[:position] + replacement + value[position + 1 :]
    if changed != value:
        assert uscc_problem(changed) is not None


def test_uscc_examples() -> None:
    assert uscc_problem("91350100M000100Y43") is None  # a commonly cited example code
    for bad in (
        "91350100M000100Y4",
        "91350100M000100Y4I",
        "91350100M000100Y44",
        "9135O100M000100Y43",
    ):
        assert uscc_problem(bad) is not None


def test_region_codes() -> None:
    assert region_code_problem("120101") is None
    for bad in ("000000", "991234", "12010", "12010a"):
        assert region_code_problem(bad) is not None
