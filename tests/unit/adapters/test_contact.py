"""What a disclosure holds never prints personal fields (tracebacks print locals)."""

from __future__ import annotations

from expert_draw.adapters.draws import Member
from expert_draw.adapters.experts import Contact


def test_a_contacts_repr_names_the_expert_but_not_its_name_or_phone() -> None:
    contact = Contact("0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f", "张三丰", "13900000001")
    shown = repr(contact)
    assert "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f" in shown
    assert "张三丰" not in shown
    assert "13900000001" not in shown


def test_a_disclosed_members_repr_hides_its_name_and_phone() -> None:
    shown = repr(Member(b"\x01" * 32, "A0101", "0b7f6c2e", "张三丰", "13900000001"))
    assert "0b7f6c2e" in shown
    assert "张三丰" not in shown
    assert "13900000001" not in shown
