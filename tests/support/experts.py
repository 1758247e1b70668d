"""Valid and varied expert records for tests (synthetic people; checksums computed)."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message
from google.type import date_pb2

from expert_draw.api.v1 import expert_service_pb2 as pb
from expert_draw.core.identifiers import resident_id_check, uscc_check

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
DISCIPLINES = (
    "editions/2018/disciplines/A010101",
    "editions/2018/disciplines/A0101",
    "editions/2018/disciplines/A010102",
)


def resident_id(n: int, birth: str = "19750312", region: str = "110105") -> str:
    """A valid 身份证号 numbered ``n`` (0 ≤ n < 1000)."""
    first17 = f"{region}{birth}{n % 1000:03d}"
    return first17 + resident_id_check(first17)


def uscc(n: int) -> str:
    """A valid 统一社会信用代码 numbered ``n``."""
    first17 = f"91110000{n % 10**9:09d}"
    return first17 + uscc_check(first17)


def day(year: int, month: int = 1, day_of_month: int = 1) -> date_pb2.Date:
    """A google.type.Date."""
    return date_pb2.Date(year=year, month=month, day=day_of_month)


def expert(n: int = 1, **changes: object) -> pb.Expert:
    """A valid expert numbered ``n``; keyword arguments replace fields."""
    message = pb.Expert(
        full_name=SURNAMES[n % len(SURNAMES)] + GIVEN[n % len(GIVEN)] + GIVEN[(n * 7) % len(GIVEN)],
        resident_id_number=resident_id(n),
        phone=f"139{n % 10**8:08d}",
        email=f"expert{n}@example.cn",
        title=pb.Title(level=pb.Title.LEVEL_SENIOR, title_name="高级工程师", obtained_date=day(2008, 6, 1)),
        work_start_date=day(1998, 7, 1),
        qualifications=[pb.Qualification(qualification_name="一级注册建造师", registered_date=day(2010, 3, 15))],
        disciplines=[DISCIPLINES[n % 2 * 2]],
        region_code="120101",
        accepts_remote=n % 2 == 0,
        library_type=pb.Expert.LIBRARY_TYPE_PROVINCIAL,
        review=pb.Expert.REVIEW_APPROVED,
        declaration_date=day(2025, 1, 10),
        training_date=day(2025, 3, 1),
        affiliations=[
            pb.Affiliation(kind=pb.Affiliation.KIND_EMPLOYER, organization_code=uscc(n),
                           organization_name="天津市某设计研究院有限公司", start_date=day(2005, 1, 1)),
            pb.Affiliation(kind=pb.Affiliation.KIND_REGISTRATION, organization_code=uscc(n + 1),
                           start_date=day(2010, 3, 15), end_date=day(2020, 12, 31)),
        ],
    )  # fmt: skip
    return with_changes(message, changes)


M = TypeVar("M", bound=Message)


def with_changes(message: M, changes: dict[str, object]) -> M:
    """``message`` with fields replaced: lists and messages whole, scalars set."""
    for field, value in changes.items():
        if isinstance(value, list):
            message.ClearField(field)
            getattr(message, field).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(message, field).CopyFrom(value)
        else:
            setattr(message, field, value)
    return message
