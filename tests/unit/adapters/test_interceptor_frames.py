"""A handler's exception must not keep the call alive until the cyclic collector runs."""

from __future__ import annotations

import gc
import weakref

from expert_draw.adapters.grpc.interceptor import _release_frames


class _Context:
    """Stands for a call's context (which holds the call and its HTTP/2 stream)."""


def _database(context: _Context) -> None:
    """Fails the way SQLAlchemy does: the frame keeps the error in a variable."""
    try:
        raise ValueError("the database went away")  # noqa: TRY301 - the cycle needs this frame
    except ValueError as error:
        kept = error  # noqa: F841 - a cycle: error -> traceback -> this frame -> kept
        raise


def _handler(context: _Context) -> None:
    """Translates the error: the cycle is in the cause's traceback only."""
    try:
        _database(context)
    except ValueError as error:
        raise RuntimeError("translated") from error


def _call(release: bool) -> weakref.ref[_Context]:
    context = _Context()
    ref = weakref.ref(context)
    try:
        _handler(context)
    except RuntimeError as exc:
        if release:
            _release_frames(exc)
    del context
    return ref


def test_an_exception_in_a_cycle_releases_the_context_once_its_frames_are_cleared() -> None:
    gc.disable()
    try:
        assert _call(release=False)() is not None  # held by the cycle, until collected
        gc.collect()
        assert _call(release=True)() is None  # freed at once, without the collector
    finally:
        gc.enable()
