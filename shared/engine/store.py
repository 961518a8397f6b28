"""Firestore collection names and small helpers shared by every repository module."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc

ACCOUNTS = "accounts"
SHARDS = "shards"  # subcollection of an account
LEDGER = "ledger"
RESERVATIONS = "reservations"
JOBS = "jobs"
API_KEYS = "api_keys"
RATE_WINDOWS = "rate_windows"
WEBHOOK_DELIVERIES = "webhook_deliveries"

# What a batch commit raises when a create() hits an existing document or a precondition
# (exists / last_update_time) no longer holds: the write was a no-op, retry or give up.
CONFLICTS = (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.Conflict, gexc.NotFound)


def db() -> Any:
    from shared.engine.clients import firestore_client

    return firestore_client()


def increment(value: int) -> Any:
    from google.cloud import firestore

    return firestore.Increment(value)


def transform_value(write_result: Any, index: int = 0) -> int:
    """The value a field transform (Increment) left in the document, atomically."""
    value = write_result.transform_results[index]
    return int(value.integer_value)


# --- the one place engine batches commit ------------------------------------------------
#
# `commit(batch, label=...)` is how the engine commits the batches that move money or job
# state. It exists for two reasons: observers (structured logs of ledger entries) see every
# committed batch, and tests can simulate the response of a commit that *landed* being lost
# (the client library retries after UNAVAILABLE; the retry then conflicts with the first,
# successful attempt), which callers must recognise as their own write.


@dataclass(frozen=True)
class Committed:
    """What a landed commit wrote: the batch's write protobufs, taken before the commit
    (`WriteBatch.commit()` empties `batch._write_pbs`), and the write results."""

    writes: list[Any]
    results: list[Any]


_log = logging.getLogger(__name__)
_commit_observers: list[Callable[[Committed, str], None]] = []
_lost_responses: dict[str, int] = {}


def on_commit(observer: Callable[[Committed, str], None]) -> Callable[[], None]:
    """Call `observer(committed, label)` after every successful `commit`; returns the call
    that stops it."""
    _commit_observers.append(observer)
    return lambda: _commit_observers.remove(observer)


def commit(batch: Any, *, label: str) -> Any:
    writes = list(getattr(batch, "_write_pbs", ()))  # the client's pending writes (pinned version)
    results = batch.commit()
    committed = Committed(writes=writes, results=list(results))
    for observer in _commit_observers:
        try:
            observer(committed, label)
        except Exception:  # isolation boundary: the write landed; a log must not undo that
            _log.exception("commit observer failed after %s landed", label)
    if _lost_responses.get(label, 0) > 0:
        _lost_responses[label] -= 1
        raise gexc.AlreadyExists(f"simulated lost response after a landed commit ({label})")
    return results


@contextlib.contextmanager
def lose_commit_responses(label: str, times: int = 1) -> Iterator[None]:
    """Test seam: the next `times` commits labelled `label` land, then report a conflict,
    as a commit retried by the client after a lost response does."""
    _lost_responses[label] = times
    try:
        yield
    finally:
        _lost_responses.pop(label, None)
