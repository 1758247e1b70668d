import pytest

from expert_draw.core import names
from expert_draw.errors import InvalidRequestError


def test_round_trip() -> None:
    assert names.parse_edition_name(names.edition_name("2010-trial")) == "2010-trial"
    name = names.discipline_name("2018", "A080105")
    assert name == "editions/2018/disciplines/A080105"
    assert names.parse_discipline_name(name) == ("2018", "A080105")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "editions",
        "editions/",
        "edition/2018",
        "editions/2018/",
        "editions/2018/x",
        "editions/Ab",
        "x" * 300,
    ],
)
def test_bad_edition_names_name_the_field(bad: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        names.parse_edition_name(bad, "parent")
    assert [v.field for v in caught.value.violations] == ["parent"]


@pytest.mark.parametrize(
    "bad",
    [
        "editions/2018/disciplines/",
        "editions/2018/disciplines/a08",
        "editions/2018/discipline/A08",
        "editions/2018/disciplines/A08/x",
        "editions//disciplines/A08",
        "experts/2018/disciplines/A08",
    ],
)
def test_bad_discipline_names(bad: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        names.parse_discipline_name(bad)
    assert caught.value.violations[0].field == "name"
    assert caught.value.reason == "INVALID_REQUEST"
