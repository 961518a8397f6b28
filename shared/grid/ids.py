"""Integer ids for grid resources (jobs, workers, blobs, payouts), as the document shows.

Firestore has no sequence, and a counter document would be a hot spot; an id is the
milliseconds since 2026-01-01 times 1024 plus 10 random bits (under 2**53, so exact in
JSON), created with `create()` so a collision is detected and retried.
"""

from __future__ import annotations

import secrets
import time

EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def new_id() -> int:
    return (int(time.time() * 1000) - EPOCH_MS) * 1024 + secrets.randbelow(1024)


def job_doc_id(grid_id: int) -> str:
    return f"g{grid_id}"
