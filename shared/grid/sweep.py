"""The grid's part of the scheduled sweep, registered with the engine as "grid".

The grid backend is pull-based: the engine's timeout step leaves its claimed and running
jobs to this hook (`sweeps.register_pull_backend`).

Requeues claims whose worker went silent or which ran past their timeout (failing a run
after its last attempt), then queues the jobs the quota held back whose day has reset,
then deletes blob uploads whose URL has expired.
"""

from __future__ import annotations

import datetime as dt

from shared.engine import sweeps
from shared.grid.blobs import sweep_uploads
from shared.grid.jobs import BACKEND, release_quota_held
from shared.grid.work import sweep_grid


def sweep(now: dt.datetime) -> dict[str, int]:
    requeued = sweep_grid(now=now)["requeued"]
    return {
        "requeued": requeued,
        "quota_released": release_quota_held(now=now),
        "blob_uploads_swept": sweep_uploads(now),
    }


sweeps.register("grid", sweep)
sweeps.register_pull_backend(BACKEND)
