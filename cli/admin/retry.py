"""The CLI sends a call again while the service refuses it as TOO_MANY_CALLS.

Imported only when a channel is opened: the offline commands never load gRPC.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import grpc

from expert_draw.adapters.grpc.status import error_info

if TYPE_CHECKING:
    from collections.abc import Callable

BUSY_BACKOFF = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)  # seconds; about 6 s in all


def _refused_as_busy(error: grpc.RpcError) -> bool:
    """Whether the service refused the call for this client's calls in progress.

    Such a call never ran (the per-client limit refuses before any handler), so sending
    it again is safe whatever it does.
    """
    if cast("grpc.Call", error).code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return False
    info = error_info(error)
    return info is not None and info.reason == "TOO_MANY_CALLS"


class BusyRetry(grpc.UnaryUnaryClientInterceptor):
    """Sends a unary call again, after a growing pause, while it is refused TOO_MANY_CALLS.

    docs/clients.md asks every client to do this: the CLI's own commands (an export
    asking for large pages, a `log follow` whose stream the server has not yet seen
    end) would otherwise fail when another of the same certificate's calls is running.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Retry with ``sleep`` between attempts (tests pass a recorder)."""
        self._sleep = sleep

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Any,  # noqa: ANN401
    ) -> Any:  # noqa: ANN401
        """Call, and on a TOO_MANY_CALLS refusal pause and call again (a few times)."""
        for pause in BUSY_BACKOFF:
            outcome = continuation(client_call_details, request)
            error = outcome.exception()
            if not isinstance(error, grpc.RpcError) or not _refused_as_busy(error):
                return outcome
            self._sleep(pause)
        return continuation(client_call_details, request)
