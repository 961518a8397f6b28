"""Waiting without getting stuck: backoff delays and calls run on daemon threads.

Invariants:
- `Backoff` delays grow 1x, 2x, 4x ... of the initial delay up to the maximum, each scaled
  by a random factor in [0.5, 1] so a fleet of workers does not retry in lock-step.
- `run_in_background` never blocks its caller for more than `tick_s` between checks of
  `give_up_at()`; a call given up keeps running on its daemon thread (and dies with the
  process), its outcome discarded.
- A background call's exception is re-raised, unchanged, by `BackgroundCall.result()` in
  the waiting thread; nothing is swallowed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Backoff:
    """Exponential backoff with jitter: initial, 2x, 4x, ... capped at `maximum`."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._attempt = 0

    def next_delay(self) -> float:
        delay = min(self._maximum, self._initial * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._attempt = 0


class BackgroundCall(Generic[T]):
    """The outcome of a function run on a background thread."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self.done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the waiting thread by result()
            self._error = exc
        finally:
            self.done.set()

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def run_in_background(
    fn: Callable[[], T],
    *,
    name: str,
    give_up_at: Callable[[], float | None],
    tick_s: float = 0.1,
) -> BackgroundCall[T] | None:
    """Run `fn` on a daemon thread and wait for it; None once `time.monotonic()` passes
    `give_up_at()` (checked every `tick_s`; None means no deadline yet)."""
    call = BackgroundCall(fn)
    threading.Thread(target=call.run, name=name, daemon=True).start()
    while not call.done.wait(tick_s):
        deadline = give_up_at()
        if deadline is not None and time.monotonic() >= deadline:
            return None
    return call
