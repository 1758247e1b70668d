"""Naming the field of a request that did not parse stays cheap on hostile bytes."""

from __future__ import annotations

import pytest

from expert_draw.adapters.grpc import wire
from expert_draw.api.v1 import expert_service_pb2 as pb


def test_a_string_that_is_not_utf8_is_named() -> None:
    good = pb.CreateExpertRequest(request_id="r-1").SerializeToString()
    bad = good.replace(b"r-1", b"r\xff1")
    assert wire.bad_utf8_field(pb.CreateExpertRequest.DESCRIPTOR, bad) == "request_id"


def test_a_varint_longer_than_ten_bytes_is_garbage() -> None:
    """Without the bound a run of 0xff built one huge integer: quadratic in its length."""
    with pytest.raises(IndexError):
        wire._varint(b"\xff" * 11 + b"\x01", 0)
    assert wire._varint(b"\xff" * 9 + b"\x01", 0)[1] == 10
    assert wire.bad_utf8_field(pb.CreateExpertRequest.DESCRIPTOR, b"\xff" * 50_000) is None


def test_large_messages_are_not_walked() -> None:
    good = pb.CreateExpertRequest(request_id="r-1").SerializeToString()
    data = good.replace(b"r-1", b"r\xff1")
    padded = data + bytes(wire.MAX_WALK_BYTES)
    assert wire.bad_utf8_field(pb.CreateExpertRequest.DESCRIPTOR, data) == "request_id"
    assert wire.bad_utf8_field(pb.CreateExpertRequest.DESCRIPTOR, padded) is None
