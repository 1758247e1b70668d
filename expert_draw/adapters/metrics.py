"""Prometheus metrics on a port of their own, and the optional OpenTelemetry interceptor.

Every metric lives in the service's own :class:`~prometheus_client.CollectorRegistry`
(never the process-wide default), so several services in one process, as in the tests,
count separately. Label values come only from fixed vocabularies: the service and method
names registered on the server, gRPC status code names, the audit entry kinds of the
aud1 schema, and the small sets :data:`DRAW_OUTCOMES` and :data:`CHECKS`. Nothing from a
request (a discipline, a pool size, a project or tender, a draw id, an expert, a
certificate) can become a label value: docs/metrics.md explains each.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from audit_log.schema import KINDS
from expert_draw.adapters.grpc.handlers import Continuation, rewrap
from expert_draw.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from wsgiref.simple_server import WSGIServer

# From a 1 ms health check to a 10 s draw over a very large library; the default buckets
# (5 ms .. 10 s) cannot tell a 1 ms read from a 4 ms one.
RPC_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

DRAW_OUTCOMES = ("committed", "refused", "executed", "cancelled", "expired", "closed", "awarded")
"""The values of ``expert_draw_draws_total{outcome}``."""

CHECKS = ("audit_self_check", "beacon_signature", "witness_consistency")
"""The values of ``expert_draw_verification_failures_total{check}``."""

# (ErrorInfo reason, invalid field) of statuses that mean a check the service ran on
# something it was given failed: a drand round signature that does not verify under the
# pinned chain key (BAD_BEACON for another round names the field "round" instead).
_FAILED_CHECKS = {("BAD_BEACON", "signature"): "beacon_signature"}
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
OTHER_KIND = "other"
"""The ``kind`` label of an entry kind outside the aud1 schema (none today)."""


class ServiceMetrics:
    """The service's metrics, in a registry of their own."""

    def __init__(self, version: str) -> None:
        """Create every metric; ``version`` is the release in ``expert_draw_build_info``."""
        self.registry = CollectorRegistry()
        self.rpc_requests = Counter(
            "expert_draw_rpc_requests",
            "RPCs finished, by service, method and gRPC status code.",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.rpc_duration = Histogram(
            "expert_draw_rpc_duration_seconds",
            "Time from the handler's start to its last response or error, in seconds.",
            ["service", "method"],
            buckets=RPC_BUCKETS,
            registry=self.registry,
        )
        self.draws = Counter(
            "expert_draw_draws",
            "Draw steps committed to the audit log, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.audit_appends = Counter(
            "expert_draw_audit_appends",
            "Committed audit log appends (one per audited transaction, one checkpoint each).",
            registry=self.registry,
        )
        self.audit_entries = Counter(
            "expert_draw_audit_entries",
            "Committed audit log entries, by entry kind.",
            ["kind"],
            registry=self.registry,
        )
        self.verification_failures = Counter(
            "expert_draw_verification_failures",
            "Checks run by the service that failed, by check.",
            ["check"],
            registry=self.registry,
        )
        build_info = Gauge(
            "expert_draw_build_info",
            "Always 1; the release of the running service in its label.",
            ["version"],
            registry=self.registry,
        )
        build_info.labels(version).set(1)
        # Present at zero from the start, so that rate() and absent() work at once.
        for outcome in DRAW_OUTCOMES:
            self.draws.labels(outcome)
        for check in CHECKS:
            self.verification_failures.labels(check)

    def observe_rpc(self, full_method: str, code: grpc.StatusCode, seconds: float) -> None:
        """Count one finished RPC ``/package.Service/Method`` and its duration."""
        service, method = split_method(full_method)
        self.rpc_requests.labels(service, method, code.name).inc()
        self.rpc_duration.labels(service, method).observe(seconds)

    def observe_append(self, kinds: Sequence[str]) -> None:
        """Count one committed audit append with entries of ``kinds``, and its draw steps.

        The draw outcome follows from the kinds the draw adapter appends together in one
        transaction: a refused request is ``draw.request`` with ``draw.cancel`` and no
        ``draw.commit``; a committed one has ``draw.commit``.
        """
        self.audit_appends.inc()
        for kind in kinds:
            self.audit_entries.labels(kind if kind in KINDS else OTHER_KIND).inc()
        present = set(kinds)
        refused = "draw.request" in present and "draw.commit" not in present
        for kind, outcome in (
            ("draw.commit", "committed"),
            ("draw.execute", "executed"),
            ("draw.expire", "expired"),
            ("draw.close", "closed"),
            ("draw.award", "awarded"),
        ):
            if kind in present:
                self.draws.labels(outcome).inc()
        if "draw.cancel" in present:
            self.draws.labels("refused" if refused else "cancelled").inc()

    def check_failed(self, check: str) -> None:
        """Count a failed check; ``check`` is one of :data:`CHECKS`.

        Raises:
            ValueError: ``check`` is not in the fixed vocabulary.
        """
        if check not in CHECKS:
            msg = f"unknown check {check!r}"
            raise ValueError(msg)
        self.verification_failures.labels(check).inc()

    def interceptor(self) -> MetricsInterceptor:
        """The server interceptor that records :meth:`observe_rpc` for every call."""
        return MetricsInterceptor(self)


def split_method(full_method: str) -> tuple[str, str]:
    """``/expert_draw.api.v1.DrawService/CreateDraw`` → (service, method)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def _final_code(context: grpc.ServicerContext, *, raised: bool) -> grpc.StatusCode:
    """The status the client receives, as far as the handler's end tells it."""
    # The server's context has code() (None until set); the type stubs leave it out.
    code = cast("grpc.StatusCode | None", cast("Any", context).code())
    if code is not None:  # abort(), abort_with_status() or set_code()
        return code
    if not context.is_active():  # the client cancelled or its deadline passed
        remaining = cast("float | None", context.time_remaining())
        expired = remaining is not None and remaining <= 0
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
    # gRPC answers an exception that escapes a handler with UNKNOWN.
    return grpc.StatusCode.UNKNOWN if raised else grpc.StatusCode.OK


def _failed_check(context: grpc.ServicerContext) -> str | None:
    """The failed check an INVALID_ARGUMENT status reports, if any (:data:`_FAILED_CHECKS`)."""
    trailing = cast("Sequence[tuple[str, str | bytes]] | None", context.trailing_metadata())
    for key, value in trailing or ():
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        reasons: set[str] = set()
        fields: set[str] = set()
        for detail in status_pb2.Status.FromString(value).details:
            info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
            if detail.Unpack(info):
                reasons.add(info.reason)
            elif detail.Unpack(bad):
                fields.update(v.field for v in bad.field_violations)
        for (reason, field), check in _FAILED_CHECKS.items():
            if reason in reasons and field in fields:
                return check
    return None


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts every RPC by status code and times it; outermost, so it sees the final code.

    The labels are the method's registered service and method names (a method the server
    does not serve never reaches a handler) and the status code name: never request
    content or metadata.
    """

    def __init__(self, metrics: ServiceMetrics) -> None:
        """Record into ``metrics``."""
        self._metrics = metrics

    def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Return the handler wrapped for this method (None, unwrapped, for an unknown one)."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return rewrap(handler, unary=lambda b: self._unary(method, b),
                      streaming=lambda b: self._stream(method, b))  # fmt: skip

    def _finish(
        self, method: str, context: grpc.ServicerContext, started: float, *, raised: bool
    ) -> None:
        code = _final_code(context, raised=raised)
        self._metrics.observe_rpc(method, code, time.perf_counter() - started)
        if code is grpc.StatusCode.INVALID_ARGUMENT:
            check = _failed_check(context)
            if check is not None:
                self._metrics.check_failed(check)

    def _unary(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:  # noqa: ANN401
            started = time.perf_counter()
            raised = False
            try:
                return behavior(request, context)
            except BaseException:
                raised = True
                raise
            finally:
                self._finish(method, context, started, raised=raised)

        return wrapped

    def _stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:  # noqa: ANN401
            started = time.perf_counter()
            raised = False
            try:
                yield from behavior(request, context)
            except BaseException:
                raised = True
                raise
            finally:
                self._finish(method, context, started, raised=raised)

        return wrapped


class MetricsServer:
    """The plaintext HTTP server that serves ``/metrics`` from one registry."""

    def __init__(self, address: str, registry: CollectorRegistry) -> None:
        """Listen on ``address`` (``host:port``; port 0 picks a free one) and serve.

        Raises:
            ConfigurationError: the address cannot be bound.
        """
        host, _, port = address.rpartition(":")
        try:
            self._httpd: WSGIServer
            self._httpd, self._thread = start_http_server(
                int(port), addr=host.strip("[]"), registry=registry
            )
        except (OSError, ValueError) as exc:
            msg = f"setting metrics.listen: cannot listen on {address} ({exc})"
            raise ConfigurationError(msg) from None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._httpd.server_port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def opentelemetry_interceptor() -> grpc.ServerInterceptor:
    """The OpenTelemetry gRPC server interceptor (the ``otel`` extra).

    It traces with the process's global tracer provider, which the deployment sets up
    (the SDK and an exporter); without one the spans are no-ops.

    Raises:
        ConfigurationError: the ``otel`` extra is not installed.
    """
    try:
        from opentelemetry.instrumentation.grpc import server_interceptor
    except ImportError:
        msg = (
            "setting metrics.opentelemetry: the OpenTelemetry gRPC instrumentation is not "
            "installed (pip install 'expert-draw[otel]')"
        )
        raise ConfigurationError(msg) from None
    # The instrumentation's functions carry no annotations.
    return cast("grpc.ServerInterceptor", server_interceptor())  # type: ignore[no-untyped-call]
