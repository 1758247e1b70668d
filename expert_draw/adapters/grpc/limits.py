"""Per-client concurrency: one client certificate cannot hold every worker thread.

The server runs ``[grpc] max_workers`` handler threads; calls beyond that wait in the
executor's queue. Without a per-client bound, one client (a runaway batch job, or an
abusive one) that keeps that many slow calls open leaves every other client waiting.
The limiter counts each client's calls in progress, keyed by the SHA-256 of its TLS
certificate (the peer address on the development plaintext port), and refuses a call
beyond ``[grpc] max_calls_per_client`` at once with RESOURCE_EXHAUSTED (reason
``TOO_MANY_CALLS``): the client backs off and retries, the others keep their workers.
A streaming call holds its slot until its stream ends.

``WritesFirst`` shares the handler threads between calls of another kind: while a
write runs, reads run a few at a time (ADR-0021 item 6).
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

import grpc
import structlog

from expert_draw.adapters.grpc.handlers import Behaviour, Continuation, rewrap
from expert_draw.adapters.grpc.status import to_status
from expert_draw.core.paging import MAX_PAGE_SIZE
from expert_draw.errors import ClientBusyError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_log = structlog.get_logger("expert_draw.rpc")


def client_key(context: grpc.ServicerContext) -> str:
    """Who is calling, for counting: the certificate's digest, else the peer address."""
    certs = list(context.auth_context().get("x509_pem_cert") or ())
    if certs:
        return "cert:" + hashlib.sha256(bytes(certs[0])).hexdigest()
    return "peer:" + context.peer().rsplit(":", 1)[0]


PAGE_WEIGHT = 100  # a list call weighs one more call per this many items it asks for


def weight(request: object) -> int:
    """What a call counts against its client's limit.

    1, and a list call 1 more per 100 items its page asks for, up to the largest page
    (a page of 1,000 experts weighs 11): a limit on calls alone let one client's large
    pages take half the CPU (bench/load.py).
    """
    size = getattr(request, "page_size", 0)
    size = min(max(0, size if isinstance(size, int) else 0), MAX_PAGE_SIZE)
    return 1 + size // PAGE_WEIGHT


class ClientLimiter(grpc.ServerInterceptor):
    """Refuses a client's call while its calls in progress weigh ``limit`` or more.

    A client with nothing in progress is always admitted, so one heavy call is never
    refused outright; it just runs alone.
    """

    def __init__(self, limit: int) -> None:
        """Allow calls weighing ``limit`` in progress per client."""
        self.limit = limit
        self._lock = threading.Lock()
        self._busy: Counter[str] = Counter()

    def _enter(self, context: grpc.ServicerContext, cost: int) -> str | None:
        key = client_key(context)
        with self._lock:
            held = self._busy[key]
            if held and held + cost > self.limit:
                return None
            self._busy[key] = held + cost
        return key

    def _leave(self, key: str, cost: int) -> None:
        with self._lock:
            self._busy[key] -= cost
            if self._busy[key] <= 0:
                del self._busy[key]

    def in_progress(self) -> dict[str, int]:
        """Calls in progress per client key (for tests and diagnostics)."""
        with self._lock:
            return dict(self._busy)

    def _refuse(self, context: grpc.ServicerContext) -> None:
        # The call interceptor never sees a refused call: this is its log line.
        _log.warning("rpc.too_many_calls", limit=self.limit, peer=context.peer())
        msg = (f"this client's calls in progress weigh {self.limit} (a list call weighs 1 "
               f"more per {PAGE_WEIGHT} items asked for); retry when one has finished")  # fmt: skip
        context.abort_with_status(to_status(ClientBusyError(msg)))

    def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Return the handler wrapped with the client's slot."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return rewrap(handler, unary=self._unary, streaming=self._streaming)

    def _unary(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:  # noqa: ANN401
            cost = weight(request)
            key = self._enter(context, cost)
            if key is None:
                self._refuse(context)  # raises
            try:
                return behavior(request, context)
            finally:
                self._leave(key, cost)  # type: ignore[arg-type]

        return wrapped

    def _streaming(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:  # noqa: ANN401
            cost = weight(request)  # a request stream has no page size: 1
            key = self._enter(context, cost)
            if key is None:
                self._refuse(context)  # raises
            try:
                yield from behavior(request, context)
            finally:
                self._leave(key, cost)  # type: ignore[arg-type]

        return wrapped


# Unary calls that only read (none of them appends to the audit log): held back while a
# write runs. Every other unary call is a write, but those in NEITHER.
READS = frozenset({
    "/expert_draw.api.v1.ClassificationService/ListEditions",
    "/expert_draw.api.v1.ClassificationService/GetEdition",
    "/expert_draw.api.v1.ClassificationService/GetDiscipline",
    "/expert_draw.api.v1.ClassificationService/ListDisciplines",
    "/expert_draw.api.v1.ClassificationService/SearchDisciplines",
    "/expert_draw.api.v1.ClassificationService/SuggestDisciplineMappings",
    "/expert_draw.api.v1.AuditService/GetServiceInfo",
    "/expert_draw.api.v1.AuditService/GetCheckpoint",
    "/expert_draw.api.v1.AuditService/GetInclusionProof",
    "/expert_draw.api.v1.AuditService/GetConsistencyProof",
    "/expert_draw.api.v1.AuditService/ListCheckpoints",
    "/expert_draw.api.v1.AuditService/GetEntry",
    "/expert_draw.api.v1.AuditService/ListEntries",
    "/expert_draw.api.v1.ExpertService/GetExpert",
    "/expert_draw.api.v1.ExpertService/ListExperts",
    "/expert_draw.api.v1.DrawService/GetDraw",
    "/expert_draw.api.v1.DrawService/ListDraws",
})  # fmt: skip
# Neither held back nor holding reads back: the health checks and reflection (streams,
# such as following the log or the supervisors' exports, never count either way).
NEITHER = frozenset({
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.health.v1.Health/List",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
})  # fmt: skip


class WritesFirst(grpc.ServerInterceptor):
    """While a unary write runs on this server, at most ``reads`` unary reads run at once.

    Python runs one thread at a time: eight handler threads share one core's worth of
    interpreter, so a draw's few milliseconds of Python stretched to a hundred under a
    load of reads (bench/load.py, the mixed phase). Writes (draws, their changes, the
    library's edits) are what clients wait on and the log orders; reads wait for them.
    A read that finds the reads' slots taken while a write runs waits, in arrival order,
    until a slot frees or no write is left, and gives up when its client has (deadline
    or cancellation). With no write in progress nothing waits, so reads alone run as
    before. Streams neither count nor wait: they may stay open for minutes (an import
    being uploaded, a proof bundle being downloaded, the log being followed).

    It runs inside the call interceptor, so that a call refused for its certificate or
    role never counts, and the wait is part of the call's logged duration. Writes made
    outside a call (the draw sweeper's expiries, witness cosignatures) do not count.
    """

    def __init__(self, reads: int) -> None:
        """Let ``reads`` reads run at once while a write is in progress."""
        self.reads = reads
        self._changed = threading.Condition()
        self._writing = 0
        self._reading = 0
        self._waiting: deque[object] = deque()  # reads waiting, first come first

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Return the handler wrapped as a read or as a write (unary calls only)."""
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        # Only unary-unary calls: rewrap's "unary" also takes client streams (an import
        # being uploaded), which must not hold reads back for the whole upload.
        if handler is None or method in NEITHER or handler.unary_unary is None:
            return handler
        unchanged: Callable[[Behaviour], Behaviour] = lambda behavior: behavior  # noqa: E731
        if method in READS:
            return rewrap(handler, unary=self._read, streaming=unchanged)
        return rewrap(handler, unary=self._write, streaming=unchanged)

    def _write(self, behavior: Behaviour) -> Behaviour:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:  # noqa: ANN401
            with self._changed:
                self._writing += 1
            try:
                return behavior(request, context)
            finally:
                with self._changed:
                    self._writing -= 1
                    if not self._writing:
                        self._changed.notify_all()

        return wrapped

    def _read(self, behavior: Behaviour) -> Behaviour:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:  # noqa: ANN401
            if not self.enter_read(context.is_active):
                context.abort(grpc.StatusCode.CANCELLED, "the client stopped waiting")
            try:
                return behavior(request, context)
            finally:
                self.leave_read()

        return wrapped

    def _open(self) -> bool:
        return not self._writing or self._reading < self.reads

    def enter_read(self, wanted: Callable[[], bool], poll: float = 0.05) -> bool:
        """Take a read's slot, after the reads waiting before it, while writes run.

        False, without a slot, once ``wanted()`` is false (checked every ``poll`` s).
        """
        with self._changed:
            if not self._waiting and self._open():
                self._reading += 1
                return True
            ticket = object()
            self._waiting.append(ticket)
            try:
                while not (self._waiting[0] is ticket and self._open()):
                    self._changed.wait(poll)
                    if not wanted():
                        return False
                self._reading += 1
                return True
            finally:
                self._waiting.remove(ticket)
                self._changed.notify_all()  # the next in line may go too

    def leave_read(self) -> None:
        """Give a read's slot back."""
        with self._changed:
            self._reading -= 1
            self._changed.notify_all()

    def in_progress(self) -> tuple[int, int]:
        """Writes and reads running (for tests and diagnostics)."""
        with self._changed:
            return self._writing, self._reading
