"""Fixed-window request limits kept in Firestore.

Each window is one counter document bumped by an atomic increment whose result comes
back with the write, so counting needs no transaction and no read; a burst on one key
costs one blind write per request. Windows carry `expire_at` for a Firestore TTL policy.
"""

from __future__ import annotations

import datetime as dt

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import RATE_WINDOWS, db, increment, transform_value


def hit(*, subject: str, limits: list[tuple[int, int]]) -> None:
    """Count one request for `subject` against each (window seconds, max requests)."""
    now = clock.now()
    epoch = int(now.timestamp())
    batch = db().batch()
    windows = []
    for seconds, limit in limits:
        start = epoch - epoch % seconds
        ref = db().collection(RATE_WINDOWS).document(f"{subject}:{seconds}:{start}")
        batch.set(
            ref,
            {"count": increment(1), "expire_at": now + dt.timedelta(seconds=2 * seconds)},
            merge=True,
        )
        windows.append((start + seconds - epoch, limit))
    results = batch.commit()
    for result, (retry_after, limit) in zip(results, windows, strict=True):
        if transform_value(result) > limit:
            raise AppError(
                ErrorKind.RATE_LIMITED, "Rate limit exceeded", {"retry_after": max(1, retry_after)}
            )
