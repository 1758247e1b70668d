"""Per-client concurrency: one client certificate cannot hold every worker thread.

The server runs ``[grpc] max_workers`` handler threads; calls beyond that wait in the
executor's queue. Without a per-client bound, one client (a runaway batch job, or an
abusive one) that keeps that many slow calls open leaves every other client waiting.
The limiter counts each client's calls in progress, keyed by the SHA-256 of its TLS
certificate (the peer address on the development plaintext port), and refuses a call
beyond ``[grpc] max_calls_per_client`` at once with RESOURCE_EXHAUSTED (reason
``TOO_MANY_CALLS``): the client backs off and retries, the others keep their workers.
A streaming call holds its slot until its stream ends.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import grpc
import structlog

from expert_draw.adapters.grpc.handlers import rewrap
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
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
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
