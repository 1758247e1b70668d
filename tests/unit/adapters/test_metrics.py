"""The metrics interceptor's status codes and durations, and the audit-derived counters.

The interceptor runs on a real in-process gRPC server (plaintext, 127.0.0.1:0) with
generic handlers that succeed, abort, raise or stream.
"""

from __future__ import annotations

from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from expert_draw.adapters.grpc.status import to_status
from expert_draw.adapters.metrics import CHECKS, DRAW_OUTCOMES, ServiceMetrics, split_method
from expert_draw.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Iterator

SERVICE = "test.v1.Probe"


def _ok(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


def _abort(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad")
    raise AssertionError  # abort raises


def _raise(request: bytes, context: grpc.ServicerContext) -> bytes:
    msg = "boom"
    raise ValueError(msg)


def _bad_beacon(request: bytes, context: grpc.ServicerContext) -> bytes:
    error = InvalidRequestError.field("signature", "does not verify", reason="BAD_BEACON")
    context.abort_with_status(to_status(error))
    raise AssertionError


def _other_invalid(request: bytes, context: grpc.ServicerContext) -> bytes:
    # BAD_BEACON for another round than the one the draw waits for: no signature checked.
    error = InvalidRequestError.field("round", "the draw waits for round 7", reason="BAD_BEACON")
    context.abort_with_status(to_status(error))
    raise AssertionError


def _set_code(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.set_code(grpc.StatusCode.NOT_FOUND)
    return b""


def _stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield request
    yield request


def _stream_abort(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield request
    context.abort(grpc.StatusCode.NOT_FOUND, "gone")


def _client_stream(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    return b"".join(requests)


def _bidi_raise(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    yield from requests
    msg = "boom"
    raise RuntimeError(msg)


@pytest.fixture
def probe() -> Iterator[tuple[ServiceMetrics, grpc.Channel]]:
    metrics = ServiceMetrics("9.9.9")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2), interceptors=[metrics.interceptor()]
    )
    unary: dict[str, Any] = {
        name: grpc.unary_unary_rpc_method_handler(behavior)
        for name, behavior in [
            ("Ok", _ok), ("Abort", _abort), ("Raise", _raise), ("BadBeacon", _bad_beacon),
            ("OtherInvalid", _other_invalid), ("SetCode", _set_code),
        ]
    }  # fmt: skip
    handlers: dict[str, Any] = {
        **unary,
        "Stream": grpc.unary_stream_rpc_method_handler(_stream),
        "StreamAbort": grpc.unary_stream_rpc_method_handler(_stream_abort),
        "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream),
        "BidiRaise": grpc.stream_stream_rpc_method_handler(_bidi_raise),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield metrics, channel
    channel.close()
    server.stop(0).wait()


def rpc(channel: grpc.Channel, kind: str, method: str) -> Any:
    """The multi-callable for ``method`` (raw bytes, no serializers)."""
    return getattr(channel, kind)(f"/{SERVICE}/{method}")


def count(metrics: ServiceMetrics, method: str, code: str) -> float:
    value = metrics.registry.get_sample_value(
        "expert_draw_rpc_requests_total", {"service": SERVICE, "method": method, "code": code}
    )
    return value or 0.0


def observed(metrics: ServiceMetrics, method: str) -> float:
    value = metrics.registry.get_sample_value(
        "expert_draw_rpc_duration_seconds_count", {"service": SERVICE, "method": method}
    )
    return value or 0.0


def failures(metrics: ServiceMetrics, check: str) -> float:
    value = metrics.registry.get_sample_value(
        "expert_draw_verification_failures_total", {"check": check}
    )
    assert value is not None  # present from the start
    return value


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("Ok", grpc.StatusCode.OK),
        ("Abort", grpc.StatusCode.INVALID_ARGUMENT),
        ("Raise", grpc.StatusCode.UNKNOWN),
        ("SetCode", grpc.StatusCode.NOT_FOUND),
        ("OtherInvalid", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_unary_calls_are_counted_under_the_code_the_client_gets(
    probe: tuple[ServiceMetrics, grpc.Channel], method: str, code: grpc.StatusCode
) -> None:
    metrics, channel = probe
    call = rpc(channel, "unary_unary", method)
    try:
        call(b"x", timeout=5)
        received = grpc.StatusCode.OK
    except grpc.RpcError as exc:
        received = exc.code()
    assert received is code
    assert count(metrics, method, code.name) == 1
    assert observed(metrics, method) == 1
    others = [c for c in grpc.StatusCode if c is not code]
    assert all(count(metrics, method, c.name) == 0 for c in others)
    assert failures(metrics, "beacon_signature") == 0


def test_streams_are_counted_when_they_end(probe: tuple[ServiceMetrics, grpc.Channel]) -> None:
    metrics, channel = probe
    assert list(rpc(channel, "unary_stream", "Stream")(b"x", timeout=5)) == [b"x", b"x"]
    assert count(metrics, "Stream", "OK") == 1
    received: list[bytes] = []
    with pytest.raises(grpc.RpcError) as caught:
        received.extend(rpc(channel, "unary_stream", "StreamAbort")(b"x", timeout=5))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert received == [b"x"]
    assert count(metrics, "StreamAbort", "NOT_FOUND") == 1
    assert rpc(channel, "stream_unary", "ClientStream")(iter([b"a", b"b"]), timeout=5) == b"ab"
    assert count(metrics, "ClientStream", "OK") == 1
    with pytest.raises(grpc.RpcError) as raised:
        list(rpc(channel, "stream_stream", "BidiRaise")(iter([b"a"]), timeout=5))
    assert raised.value.code() is grpc.StatusCode.UNKNOWN
    assert count(metrics, "BidiRaise", "UNKNOWN") == 1
    assert observed(metrics, "Stream") == observed(metrics, "BidiRaise") == 1


def test_a_failed_beacon_signature_is_a_verification_failure(
    probe: tuple[ServiceMetrics, grpc.Channel],
) -> None:
    metrics, channel = probe
    with pytest.raises(grpc.RpcError) as caught:
        rpc(channel, "unary_unary", "BadBeacon")(b"x", timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert count(metrics, "BadBeacon", "INVALID_ARGUMENT") == 1
    assert failures(metrics, "beacon_signature") == 1
    assert failures(metrics, "audit_self_check") == 0


def test_unknown_methods_make_no_label(probe: tuple[ServiceMetrics, grpc.Channel]) -> None:
    """A method the server does not serve never becomes a label value."""
    metrics, channel = probe
    with pytest.raises(grpc.RpcError) as caught:
        rpc(channel, "unary_unary", "Nope-A0101")(b"x", timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
    methods = {
        sample.labels.get("method")
        for family in metrics.registry.collect()
        for sample in family.samples
    }
    assert "Nope-A0101" not in methods


def draws(metrics: ServiceMetrics) -> dict[str, float]:
    return {
        outcome: metrics.registry.get_sample_value("expert_draw_draws_total", {"outcome": outcome})
        or 0.0
        for outcome in DRAW_OUTCOMES
    }


@pytest.mark.parametrize(
    ("kinds", "outcomes"),
    [
        (("draw.request", "pool.freeze", "draw.commit"), {"committed"}),
        (("draw.request", "draw.cancel"), {"refused"}),
        (("draw.cancel",), {"cancelled"}),
        (("draw.nonce", "draw.execute", "confidential.grant"), {"executed"}),
        (("draw.nonce", "draw.execute", "draw.cancel"), {"executed", "cancelled"}),
        (("draw.nonce_reject", "draw.expire"), {"expired"}),
        (("draw.close",), {"closed"}),
        (("draw.award",), {"awarded"}),
        (("expert.create", "expert.create"), set()),
    ],
)
def test_draw_outcomes_follow_from_the_appended_kinds(
    kinds: tuple[str, ...], outcomes: set[str]
) -> None:
    metrics = ServiceMetrics("9.9.9")
    metrics.observe_append(kinds)
    assert draws(metrics) == {o: float(o in outcomes) for o in DRAW_OUTCOMES}
    assert metrics.registry.get_sample_value("expert_draw_audit_appends_total") == 1
    for kind in set(kinds):
        assert metrics.registry.get_sample_value(
            "expert_draw_audit_entries_total", {"kind": kind}
        ) == kinds.count(kind)


def test_kinds_outside_the_schema_are_counted_as_other() -> None:
    metrics = ServiceMetrics("9.9.9")
    metrics.observe_append(("draw.commit", "A0101.project-P-1"))
    registry = metrics.registry
    assert registry.get_sample_value("expert_draw_audit_entries_total", {"kind": "other"}) == 1
    assert (
        registry.get_sample_value("expert_draw_audit_entries_total", {"kind": "A0101.project-P-1"})
        is None
    )


def test_checks_are_a_fixed_vocabulary() -> None:
    metrics = ServiceMetrics("9.9.9")
    with pytest.raises(ValueError, match="unknown check"):
        metrics.check_failed("tender T-1")
    metrics.check_failed("audit_self_check")
    assert {c: failures(metrics, c) for c in CHECKS} == {
        "audit_self_check": 1,
        "beacon_signature": 0,
        "witness_consistency": 0,
    }
    assert metrics.registry.get_sample_value("expert_draw_build_info", {"version": "9.9.9"}) == 1


def test_split_method() -> None:
    assert split_method("/expert_draw.api.v1.DrawService/CreateDraw") == (
        "expert_draw.api.v1.DrawService",
        "CreateDraw",
    )


def test_registries_are_separate() -> None:
    """Two services in one process count apart (no global registry)."""
    first, second = ServiceMetrics("1"), ServiceMetrics("2")
    first.check_failed("beacon_signature")
    assert failures(first, "beacon_signature") == 1
    assert failures(second, "beacon_signature") == 0
