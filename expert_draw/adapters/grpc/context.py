"""The authenticated caller of the RPC running on this thread."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from expert_draw.adapters.grpc.auth import Identity

_CALLER: ContextVar[Identity | None] = ContextVar("expert_draw_caller", default=None)


def set_caller(identity: Identity | None) -> None:
    """Bind the caller for the RPC about to run (the interceptor does this)."""
    _CALLER.set(identity)


def caller() -> Identity:
    """Return the caller of the current RPC.

    Raises:
        RuntimeError: called outside an intercepted RPC (a wiring bug).
    """
    identity = _CALLER.get()
    if identity is None:  # pragma: no cover - every servicer runs behind the interceptor
        msg = "no authenticated caller bound to this RPC"
        raise RuntimeError(msg)
    return identity
