"""The expert record's pure rules: validation, masking, what the log holds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_log import canonical
from audit_log.entry import commitment
from expert_draw.core import experts
from expert_draw.core.experts import (
    Affiliation,
    AffiliationKind,
    Draft,
    LibraryType,
    Personal,
    Profile,
    Qualification,
    Review,
    Title,
    TitleLevel,
)
from tests.support.experts import resident_id, uscc

TODAY = dt.date(2026, 11, 26)


class Catalog:
    """Two editions: 2018 (current) with levels by code length, 2010-trial (legacy)."""

    def level_of(self, edition_id: str, code: str) -> int | None:
        if edition_id not in {"2018", "2010-trial"} or code.startswith("Z"):
            return None
        return (len(code) - 1) // 2

    def is_current(self, edition_id: str) -> bool:
        return edition_id == "2018"


def draft(**profile_changes: object) -> Draft:
    personal = Personal(" 王 伟 ", resident_id(7).lower(), "13912345678", "wang@example.cn")
    profile = Profile(
        title=Title(TitleLevel.SENIOR, "高级工程师", dt.date(2008, 6, 1)),
        work_start=dt.date(1998, 7, 1),
        qualifications=(Qualification("一级注册建造师", dt.date(2010, 3, 15)),),
        disciplines=(("2018", "A010101"),),
        region_code="120101",
        accepts_remote=True,
        library_type=LibraryType.PROVINCIAL,
        review=Review.APPROVED,
        declaration_date=dt.date(2025, 1, 10),
        training_date=None,
        age_exempt=False,
        affiliations=(
            Affiliation(
                AffiliationKind.EMPLOYER, uscc(7).lower(), "某院", dt.date(2005, 1, 1), None
            ),
        ),
    )
    return experts.normalize(Draft(personal, dataclasses.replace(profile, **profile_changes)))  # type: ignore[arg-type]


def fields(d: Draft) -> list[str]:
    return [v.field for v in experts.validate(d, TODAY, Catalog())]


def test_a_valid_draft_normalises() -> None:
    d = draft()
    assert fields(d) == []
    assert d.personal.full_name == "王 伟"
    assert (
        d.personal.resident_id_number[-1].isupper() or d.personal.resident_id_number[-1].isdigit()
    )
    assert d.profile.affiliations[0].organization_code == uscc(7)
    assert d.personal.birth_date == dt.date(1975, 3, 12)
    assert d.personal.gender == "male"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"disciplines": ()}, ["expert.disciplines"]),
        ({"disciplines": (("2018", "A01"),)}, ["expert.disciplines[0]"]),  # 一级: too broad
        ({"disciplines": (("2010-trial", "A01"),)}, []),  # legacy editions keep their codes
        ({"disciplines": (("2018", "Z01"),)}, ["expert.disciplines[0]"]),
        ({"disciplines": (("2018", "A010101"),) * 2}, ["expert.disciplines"]),
        ({"disciplines": tuple(("2018", f"A0101{i:02d}") for i in range(11))}, ["expert.disciplines"]),
        ({"work_start": None}, ["expert.work_start_date"]),
        ({"work_start": dt.date(2027, 1, 1)}, ["expert.work_start_date"]),
        ({"training_date": dt.date(1899, 12, 31)}, ["expert.training_date"]),
        ({"title": Title(None, "", None)}, ["expert.title.level", "expert.title.title_name", "expert.title.obtained_date"]),
        ({"library_type": None, "review": None}, ["expert.library_type", "expert.review"]),
        ({"region_code": "12010"}, ["expert.region_code"]),
        ({"qualifications": (Qualification("", None),)}, ["expert.qualifications[0].qualification_name", "expert.qualifications[0].registered_date"]),
        ({"qualifications": (Qualification("x", TODAY),) * 21}, ["expert.qualifications"]),
        ({"affiliations": (Affiliation(None, "X", "n" * 129, dt.date(2010, 1, 1), dt.date(2009, 1, 1)),)},
         ["expert.affiliations[0].kind", "expert.affiliations[0].organization_code",
          "expert.affiliations[0].organization_name", "expert.affiliations[0].end_date"]),
        ({"affiliations": (Affiliation(AffiliationKind.RELATIVE, uscc(1), "", None, None),)}, ["expert.affiliations[0].start_date"]),
    ],
)  # fmt: skip
def test_profile_problems(changes: dict[str, object], expected: list[str]) -> None:
    assert fields(draft(**changes)) == expected


@pytest.mark.parametrize(
    ("personal", "expected"),
    [
        (Personal("", resident_id(1), "13912345678", ""), ["expert.full_name"]),
        (Personal("王\x00伟", resident_id(1), "13912345678", ""), ["expert.full_name"]),
        (Personal("王伟", resident_id(1)[:-1] + "0" if resident_id(1)[-1] != "0" else resident_id(1)[:-1] + "1", "13912345678", ""), ["expert.resident_id_number"]),
        (Personal("王伟", resident_id(1, birth="20270101"), "13912345678", ""), ["expert.resident_id_number"]),
        (Personal("王伟", resident_id(1), "+8613912345678", ""), ["expert.phone"]),
        (Personal("王伟", resident_id(1), "12912345678", "a@b"), ["expert.phone", "expert.email"]),
    ],
)  # fmt: skip
def test_personal_problems_never_echo_the_value(personal: Personal, expected: list[str]) -> None:
    d = experts.normalize(Draft(personal, draft().profile))
    found = experts.validate(d, TODAY, Catalog())
    assert [v.field for v in found] == expected
    for violation in found:
        assert personal.resident_id_number not in violation.description
        assert personal.phone not in violation.description


def test_legacy_only() -> None:
    assert not experts.legacy_only(draft().profile, Catalog())
    assert experts.legacy_only(draft(disciplines=(("2010-trial", "A01"),)).profile, Catalog())
    assert not experts.legacy_only(
        draft(disciplines=(("2010-trial", "A01"), ("2018", "A010101"))).profile, Catalog()
    )


def test_the_audit_record_holds_no_personal_value_and_its_commitments_open() -> None:
    d = draft()
    salts = {name: os.urandom(32) for name in experts.personal_values(d.personal)}
    record = experts.audit_record(d.profile, d.personal, salts, 1)
    text = canonical.dumps(record).decode()
    for value in (*experts.personal_values(d.personal).values(), "某院"):
        assert value not in text
    assert set(salts) == {
        "full_name",
        "resident_id_number",
        "phone",
        "email",
        "birth_date",
        "gender",
    }
    for name, value in experts.personal_values(d.personal).items():
        assert record[f"{name}_commit"] == commitment(salts[name], value)
    assert record["version"] == 1
    assert record["state"] == "active"
    assert record["affiliations"] == [
        {"kind": "employer", "org": uscc(7), "start": "2005-01-01", "end": None}
    ]


def test_no_email_no_commitment() -> None:
    d = experts.normalize(Draft(dataclasses.replace(draft().personal, email=""), draft().profile))
    assert "email" not in experts.personal_values(d.personal)


def test_profile_json_round_trips() -> None:
    profile = draft().profile
    stored = json.loads(canonical.dumps(experts.profile_json(profile)))
    assert experts.profile_from_json(stored) == profile


def test_masks() -> None:
    assert experts.mask_name("张三丰") == "张**"
    assert experts.mask_name("欧阳") == "欧*"
    assert experts.mask_resident_id("11010519750312101X") == "110105***********X"
    assert experts.mask_name("王") == "*"
    assert experts.mask_phone("13912345678") == "139****5678"
    assert experts.mask_email("wang@example.cn") == "***@example.cn"
    assert experts.mask_email("") == ""


_PERIODS = st.lists(
    st.builds(
        lambda status, start, length: experts.StatusPeriod(
            status, "r", start, None if length is None else start + length
        ),
        st.sampled_from(list(experts.Status)),
        st.integers(0, 50),
        st.none() | st.integers(0, 20),
    ),
    max_size=6,
)


@given(_PERIODS, st.integers(-5, 80))
def test_status_steps_agree_with_status_at(periods: list[experts.StatusPeriod], ts_ms: int) -> None:
    """The precomputed steps give status_at's answer at every time, bounds included."""
    steps = experts.status_steps(periods)
    for t in (ts_ms, *steps.starts, *(b - 1 for b in steps.starts)):
        assert steps.at(t) is experts.status_at(periods, t)


def test_status_steps_of_no_periods_is_active() -> None:
    """No period: ACTIVE at any time."""
    assert experts.status_steps([]).at(0) is experts.Status.ACTIVE
