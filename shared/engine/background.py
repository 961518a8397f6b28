"""Overlapping independent round trips of one request (a submit's key read and rate count,
its job batch and dispatch task) on a small shared thread pool.

A call runs in a copy of the caller's contextvars, so its log lines and the trace it puts
on a task are the request's own. The caller always joins what it started (`Future.result`)
before it answers, so nothing outlives the request.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="relay-overlap")


def start(fn: Callable[[], T]) -> Future[T]:
    """Run `fn` beside the caller, in the caller's context; join it with `.result()`."""
    return _pool.submit(contextvars.copy_context().run, fn)
