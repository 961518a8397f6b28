"""Fixed-window request limits kept in Firestore.

Each window is one counter document bumped by an atomic increment whose result comes
back with the write, so counting needs no transaction and no read; a burst on one key
costs one blind write per request. Windows carry `expire_at` for a Firestore TTL policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import RATE_WINDOWS, db, increment, transform_value


@dataclass(frozen=True)
class Window:
    """One window as it stands after a request was counted (for X-RateLimit-* headers)."""

    limit: int
    remaining: int
    reset_epoch: int  # when the window ends, in Unix seconds
    retry_after: int  # seconds until then, at least 1


def _count(subject: str, limits: list[tuple[int, int]]) -> list[Window]:
    now = clock.now()
    epoch = int(now.timestamp())
    batch = db().batch()
    starts = []
    for seconds, _ in limits:
        start = epoch - epoch % seconds
        ref = db().collection(RATE_WINDOWS).document(f"{subject}:{seconds}:{start}")
        batch.set(
            ref,
            {"count": increment(1), "expire_at": now + dt.timedelta(seconds=2 * seconds)},
            merge=True,
        )
        starts.append(start)
    results = batch.commit()
    return [
        Window(
            limit=limit,
            remaining=max(0, limit - transform_value(result)),
            reset_epoch=start + seconds,
            retry_after=max(1, start + seconds - epoch),
        )
        if transform_value(result) <= limit
        else Window(
            limit=limit,
            remaining=-1,
            reset_epoch=start + seconds,
            retry_after=max(1, start + seconds - epoch),
        )
        for result, start, (seconds, limit) in zip(results, starts, limits, strict=True)
    ]


def _exceeded(window: Window) -> AppError:
    return AppError(
        ErrorKind.RATE_LIMITED,
        "Rate limit exceeded",
        {"retry_after": window.retry_after, "rate_window": window},
    )


def hit(*, subject: str, limits: list[tuple[int, int]]) -> None:
    """Count one request for `subject` against each (window seconds, max requests)."""
    for window in _count(subject, limits):
        if window.remaining < 0:
            raise _exceeded(window)


def charge(*, subject: str, seconds: int, limit: int) -> Window:
    """Count one request for `subject` in one window and return the window (remaining 0 at
    the limit); past the limit, RATE_LIMITED whose details carry the window as
    `rate_window` (remaining 0), so the refusal can show the same headers."""
    (window,) = _count(subject, [(seconds, limit)])
    if window.remaining < 0:
        raise _exceeded(
            Window(
                limit=limit,
                remaining=0,
                reset_epoch=window.reset_epoch,
                retry_after=window.retry_after,
            )
        )
    return window
