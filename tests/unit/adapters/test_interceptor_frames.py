"""A handler's exception must not keep the call alive until the cyclic collector runs."""

from __future__ import annotations

import gc
import weakref

from expert_draw.adapters.grpc.interceptor import _release_frames


class _Context:
    """Stands for a call's context (which holds the call and its HTTP/2 stream)."""


def _database() -> None:
    raise ValueError("the database went away")


def _handler(context: _Context) -> None:
    """Fails the way SQLAlchemy does: a frame keeps the error it raises in a variable."""
    try:
        _database()
    except ValueError as error:
        kept = error  # a cycle: error -> traceback -> this frame -> kept
        raise RuntimeError("translated") from kept


def _call(release: bool) -> weakref.ref[_Context]:
    context = _Context()
    ref = weakref.ref(context)
    try:
        _handler(context)
    except RuntimeError as exc:
        if release:
            _release_frames(exc)
    return ref


def test_an_exception_in_a_cycle_releases_the_context_once_its_frames_are_cleared() -> None:
    gc.disable()
    try:
        assert _call(release=False)() is not None  # held by the cycle, until collected
        gc.collect()
        assert _call(release=True)() is None  # freed at once, without the collector
    finally:
        gc.enable()
