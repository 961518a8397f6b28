"""Settlement shares: what a site adds to the batch that captures one of its jobs.

A site whose captured money is split (a creator's earning and the platform's revenue on
the marketplace) registers a share writer when its package is imported
(`register("market", writer)`). `jobs.finish` calls the writer of the job's site in the
very batch that captures the hold, under the same precondition on the job, so a capture
and its shares land together exactly once, whichever path completed the job (a backend's
callback, a client's sync, the sweep). The engine imports no site.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# writer(batch, job, captured_micros): add the share entries of a capture to the batch.
ShareWriter = Callable[[Any, Any, int], None]
_writers: dict[str, ShareWriter] = {}


def register(site: str, writer: ShareWriter) -> None:
    _writers[site] = writer


def writer_for(site: str) -> ShareWriter | None:
    return _writers.get(site)
