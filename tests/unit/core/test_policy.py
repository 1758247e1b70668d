"""The draw policy: TOML loading, validation with key paths, config JSON and digest."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest

from audit_log import canonical
from audit_log.schema import KINDS
from expert_draw.core import policy
from expert_draw.core.experts import LibraryType, TitleLevel
from expert_draw.core.policy import (
    Age,
    AgeMode,
    Beacon,
    Committee,
    Experience,
    MatchMode,
    Method,
    Policy,
    PolicyError,
    SupervisingPost,
    load_policy,
)

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "docs" / "samples" / "policy.toml"
DOC = ROOT / "docs" / "policy.md"
H = 3_600_000


def problems(text: str) -> dict[str, str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    return dict(caught.value.problems)


def toml(value: dict[str, object], prefix: str = "") -> str:
    """A minimal TOML writer for config_json objects (scalars, arrays, nested tables)."""

    def scalar(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return f'"{v}"'
        assert isinstance(v, list)
        return "[" + ", ".join(scalar(i) for i in v) + "]"

    lines = [f"{k} = {scalar(v)}" for k, v in value.items() if not isinstance(v, dict)]
    text = "\n".join(lines) + "\n"
    for k, v in value.items():
        if isinstance(v, dict):
            name = f"{prefix}{k}"
            text += f"\n[{name}]\n" + toml(v, f"{name}.")
    return text


# -- defaults, sample, digest ------------------------------------------------------------


def test_the_sample_is_every_key_at_its_default() -> None:
    loaded = load_policy(SAMPLE.read_bytes())
    assert loaded == Policy() == policy.DEFAULT
    assert loaded.config_json() == Policy().config_json()
    assert load_policy("") == Policy()


def test_the_doc_names_every_key() -> None:
    doc = DOC.read_text(encoding="utf-8")
    config = Policy().config_json()
    for section, value in config.items():
        if section == "version":
            assert "`version`" in doc
            continue
        assert f"[{section}" in doc, section
        assert isinstance(value, dict)
        for key, item in value.items():
            if section == "methods":
                assert f"`{key}`" in doc, key
                assert isinstance(item, dict)
                for inner in item:
                    assert f"`{inner}`" in doc, inner
            else:
                assert f"`{key}`" in doc, f"{section}.{key}"


def test_digest_is_sha256_of_aud1_config() -> None:
    p = Policy()
    config = p.config_json()
    assert p.canonical_bytes() == canonical.dumps(config)
    assert p.digest() == hashlib.sha256(canonical.dumps(config)).digest()
    assert len(p.digest()) == 32
    data = {"config": config, "digest": p.digest().hex()}
    assert KINDS["policy.set"].problems("policy", data) == []
    changed = load_policy("[age]\ncap = 65\n")
    assert changed.digest() != p.digest()
    assert load_policy("[age]\ncap = 70\n").digest() == p.digest()  # explicit default


def test_config_json_round_trips_through_toml() -> None:
    custom = load_policy(
        '[matching]\nmode = "exact"\nallowed_levels = [3]\n'
        '[experience]\nmin_title = "senior"\nintermediate_min_years = 5\n'
        '[age]\ncap = 65\nmode = "le"\n'
        '[library_types]\nown = ["other"]\n'
        "[methods.local]\nmax_lead_hours = 72\nmin_size = 7\n"
    )
    assert custom.matching.mode is MatchMode.EXACT
    assert custom.experience.min_title is TitleLevel.SENIOR
    assert custom.age.mode is AgeMode.LE
    assert custom.methods == (("local", Method(max_lead_hours=72, min_size=7)),)
    assert custom.library_types == (("own", (LibraryType.OTHER,)),)
    again = load_policy(toml(custom.config_json()))
    assert again == custom
    assert again.digest() == custom.digest()
    assert load_policy(toml(Policy().config_json())) == Policy()


def test_bytes_and_text_are_equal() -> None:
    text = '[avoidance]\nsupervising_post = "parties"\n'
    assert load_policy(text) == load_policy(text.encode())
    assert load_policy(text).avoidance.supervising_post is SupervisingPost.PARTIES


# -- errors -------------------------------------------------------------------------------


def test_documents_that_are_not_toml() -> None:
    assert problems("x =").keys() == {""}
    assert "not TOML" in problems("x =")[""]
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(b"version = 1\n\xff")


def test_unknown_keys_are_errors_everywhere() -> None:
    found = problems(
        "colour = 1\n[age]\nmaximum = 3\n[methods.tender]\nlead = 1\n[nosuch]\na = 1\n"
    )
    assert found == {
        "colour": "unknown key",
        "nosuch": "unknown key",
        "age.maximum": "unknown key",
        "methods.tender.lead": "unknown key",
    }


def test_every_problem_is_listed_with_its_path() -> None:
    found = problems(
        "version = 2\n"
        '[matching]\nmode = "fuzzy"\nallowed_levels = []\nlegacy_editions = ["2010-trial", "X"]\n'
        '[experience]\nmin_years_in_field = 61\nmin_title = "professor"\n'
        "intermediate_with_registration = 1\n"
        "[age]\ncap = 70.0\n"
        '[credit]\ncodes = ["misconduct", "misconduct", "nope"]\nlifetime_codes = "criminal"\n'
        '[region]\nvenue_prefix_digits = 3\nrequire_reason = "yes"\n'
        "[history]\nper_expert_days = 0\n"
        '[library_types]\ngovernment = []\nown = ["weird"]\nBad = ["other"]\n'
        "[methods.gov_tender]\nmin_size = 0\n"
        '[replacement]\nmode = "B"\n'
    )
    assert found == {
        "version": "must be one of 1",
        "matching.mode": 'must be one of "prefix", "exact"',
        "matching.allowed_levels": "must not be empty",
        "matching.legacy_editions[1]": "must be an edition id ([0-9a-z-], 1-32)",
        "experience.min_years_in_field": "must lie between 0 and 60",
        "experience.min_title": 'must be one of "intermediate", "associate_senior", "senior"',
        "experience.intermediate_with_registration": "must be true or false",
        "age.cap": "must be an integer",
        "credit.codes[1]": "listed twice",
        "credit.codes[2]": "must be one of administrative_penalty, criminal_penalty, "
        "late_withdrawal, misconduct, no_show, undeclared_conflict",
        "credit.lifetime_codes": "must be an array",
        "region.venue_prefix_digits": "must be one of 0, 2, 4, 6",
        "region.require_reason": "must be true or false",
        "history.per_expert_days": "must lie between 1 and 3660",
        "library_types.government": "must not be empty",
        "library_types.own[0]": 'must be one of "provincial", "state_council", "other"',
        "library_types.Bad": "names are 1-32 characters of [a-z0-9_], a letter first",
        "methods.gov_tender.min_size": "must lie between 1 and 99",
        "replacement.mode": 'must be one of "A"',
    }


def test_type_errors() -> None:
    assert problems("[age]\ncap = true\n") == {"age.cap": "must be an integer"}
    assert problems("[age]\nmode = 1\n") == {"age.mode": 'must be one of "lt", "le"'}
    assert problems("age = 5\n") == {"age": "must be a table"}
    assert problems("version = true\n") == {"version": "must be an integer"}
    assert problems("library_types = {}\n") == {"library_types": "must be a non-empty table"}
    assert problems("methods = 3\n") == {"methods": "must be a non-empty table"}
    assert problems("methods = {a = 1}\n") == {"methods.a": "must be a table"}
    assert problems("[matching]\nallowed_levels = [4]\n") == {
        "matching.allowed_levels[0]": "must lie between 0 and 3"
    }


def test_inconsistent_values() -> None:
    assert problems('[experience]\nmin_title = "junior"\n') == {
        "experience.min_title": "must be intermediate or higher"
    }
    assert problems("[committee]\nexpert_share_num = 4\n") == {
        "committee.expert_share_num": "must not exceed expert_share_den"
    }
    assert problems("[beacon]\ndelta_rounds = 10\n") == {
        "beacon.margin_seconds": "must be less than 3 × delta_rounds seconds, "
        "else no nonce can be on time"
    }
    assert load_policy("[beacon]\ndelta_rounds = 11\n").beacon.delta_rounds == 11


def test_sections_built_in_code_are_checked_too() -> None:
    with pytest.raises(PolicyError) as caught:
        Age(cap=200)
    assert caught.value.problems == (("cap", "must lie between 0 and 150"),)
    with pytest.raises(PolicyError, match="min_title"):
        Experience(min_title=TitleLevel.JUNIOR)
    with pytest.raises(PolicyError, match="expert_share_num"):
        Committee(expert_share_num=3, expert_share_den=2)
    with pytest.raises(PolicyError, match="margin_seconds"):
        Beacon(margin_seconds=300)
    with pytest.raises(PolicyError, match="version"):
        Policy(version=2)
    with pytest.raises(PolicyError, match="methods"):
        Policy(methods=())
    assert "invalid policy: (document): x" in str(PolicyError([("", "x")]))


def test_policies_are_frozen() -> None:
    p = Policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.age = Age(cap=65)  # type: ignore[misc]


# -- lookups and the D3/D5 checks ----------------------------------------------------------


def test_library_type_rules() -> None:
    p = Policy()
    assert p.library_type_rule("government") == frozenset(
        {LibraryType.PROVINCIAL, LibraryType.STATE_COUNCIL}
    )
    assert p.library_type_rule("provincial") == frozenset({LibraryType.PROVINCIAL})
    assert p.library_type_rule("nosuch") is None


def test_committee_rules() -> None:
    p = Policy()
    assert p.committee_problems("tender", 4, 1) == []
    assert p.committee_problems("tender", 5, 0) == []
    assert p.committee_problems("tender", 3, 2) == ["experts must be at least 2/3 of the committee"]
    assert p.committee_problems("tender", 4, 0) == [
        "a tender committee has at least 5 members",
        "the committee size must be odd",
    ]
    assert p.committee_problems("gov_negotiation", 3, 0) == []
    assert p.committee_problems("nosuch", 5, 0) == ["unknown procurement method 'nosuch'"]
    assert "member counts cannot be negative" in p.committee_problems("tender", 7, -1)
    even = load_policy("[committee]\nodd = false\n")
    assert even.committee_problems("tender", 6, 0) == []


def test_timing_rules() -> None:
    p = Policy()
    window = 100 * H
    assert p.timing_problem("gov_tender", window - 48 * H, window) is None
    assert p.timing_problem("gov_tender", window - 48 * H - 1, window) == (
        "a gov_tender draw starts at most 48 h before the window"
    )
    assert p.timing_problem("tender", 0, window) is None
    assert p.timing_problem("tender", window - 1, window) is None
    assert p.timing_problem("tender", window, window) == (
        "a tender draw must come before the window starts"
    )
    assert p.timing_problem("nosuch", 0, window) == "unknown procurement method 'nosuch'"
    lead = load_policy("[methods.tender]\nmin_lead_minutes = 30\n")
    assert lead.method("gov_tender") is None  # a configured set replaces the defaults
    assert lead.timing_problem("tender", window - 30 * 60_000, window) == (
        "a tender draw must come more than 30 min before the window starts"
    )
    assert lead.timing_problem("tender", window - 30 * 60_000 - 1, window) is None


def test_parsers_refuse_non_arrays_and_keep_order() -> None:
    assert problems('[matching]\nlegacy_editions = "2010-trial"\n') == {
        "matching.legacy_editions": "must be an array"
    }
    p = load_policy('[credit]\ncodes = ["misconduct", "administrative_penalty"]\n')
    assert p.credit.codes == ("misconduct", "administrative_penalty")
    assert re.fullmatch(r"[0-9a-f]{64}", p.digest().hex())
