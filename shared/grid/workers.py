"""Grid workers: registration, liveness, what each one serves and how far it is trusted.

A worker is `grid_workers/<id>`, owned by the account of the key that registered it; that
key becomes worker-bound (`api_keys/<hash>.worker_id`). A worker is online while its last
heartbeat (explicit, or implied by every job poll) is under 90 s old.

Workers are untrusted volunteers, so:
- What a worker serves (models, families, catch-all) and how many jobs it runs at once
  (`max_concurrent_jobs`, default 1, at most `grid_max_concurrent_claims`) come from its
  registration; a poll's query string can only narrow them.
- A worker has at most one long-poll open at a time: a poll holds a lease on the worker
  document (taken with a precondition on the snapshot that showed it free), and a second
  poll while it is held is refused (429). Claims are therefore made one at a time per
  worker, which is what makes the claim cap exact.
- Every finished run is counted on the worker (`completed_runs`, `failed_runs`: a reported
  failure, or a claim the sweep took back because the worker went silent); a worker with
  at least `grid_failure_min_runs` failures of which more than `grid_failure_rate_pct`
  percent failed is offered nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import ApiKey
from shared.engine.settings import get_settings
from shared.engine.store import API_KEYS, CONFLICTS, db, increment
from shared.grid.ids import new_id
from shared.grid.views import ModelEntry, RegisterRequest
from shared.schemas.text import model_family as family

WORKERS = "grid_workers"
OFFLINE_AFTER = dt.timedelta(seconds=90)


class Worker(BaseModel):
    id: int
    account_id: str
    name: str | None = None
    models: list[ModelEntry] = []
    catch_all: bool = False
    agent_version: str | None = None
    platform: str | None = None
    max_concurrent_jobs: int = 1
    completed_runs: int = 0
    failed_runs: int = 0
    last_seen: dt.datetime
    created_at: dt.datetime

    def online(self, now: dt.datetime) -> bool:
        return now - self.last_seen < OFFLINE_AFTER

    def served(self) -> tuple[set[str], set[str]]:
        """The models this worker registered, and the families it serves."""
        names = {m.name for m in self.models}
        return names, {family(m.name) for m in self.models if m.serves_family}

    def suspended(self) -> bool:
        """Whether the worker fails too many of its runs to be offered more."""
        settings = get_settings()
        finished = self.completed_runs + self.failed_runs
        return (
            self.failed_runs >= settings.grid_failure_min_runs
            and self.failed_runs * 100 > settings.grid_failure_rate_pct * finished
        )


class CatalogEntry(BaseModel):
    """A model some online worker serves, with how many serve it and its family."""

    name: str
    family: str
    worker_count: int
    family_worker_count: int


def _served(models: list[ModelEntry]) -> list[dict[str, Any]]:
    """The entries a worker can actually serve: blank names are dropped, not refused."""
    return [
        {"name": m.name.strip(), "serves_family": m.serves_family} for m in models if m.name.strip()
    ]


def _ref(worker_id: int) -> Any:
    return db().collection(WORKERS).document(str(worker_id))


def get(worker_id: int) -> Worker:
    snap = _ref(worker_id).get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, "not_found")
    return Worker(id=int(snap.id), **snap.to_dict())


def register(*, key: ApiKey, request: RegisterRequest, key_worker_id: int | None) -> Worker:
    """Create or update the caller's worker and bind the key to it."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    if request.max_concurrent_jobs > get_settings().grid_max_concurrent_claims:
        limit = get_settings().grid_max_concurrent_claims
        raise AppError(ErrorKind.INVALID, f"max_concurrent_jobs must be at most {limit}")
    now = clock.now()
    fields = {
        "max_concurrent_jobs": request.max_concurrent_jobs,
        "name": request.name,
        "agent_version": request.agent_version,
        "platform": request.platform,
        "catch_all": request.catch_all,
        "models": _served(request.models),
        "last_seen": now,
    }
    worker_id = key_worker_id
    if worker_id is None and request.name:
        same_name = (
            db()
            .collection(WORKERS)
            .where(filter=FieldFilter("account_id", "==", key.account_id))
            .where(filter=FieldFilter("name", "==", request.name))
            .limit(1)
            .stream()
        )
        worker_id = next((int(s.id) for s in same_name), None)
    if worker_id is not None:
        _ref(worker_id).update(fields)
    else:
        for _ in range(5):
            worker_id = new_id()
            try:
                _ref(worker_id).create({**fields, "account_id": key.account_id, "created_at": now})
                break
            except CONFLICTS:
                continue
        else:
            raise AppError(ErrorKind.UNAVAILABLE, "could not allocate a worker id, retry")
    db().collection(API_KEYS).document(key.key_hash).update({"worker_id": worker_id})
    return get(int(worker_id))


def heartbeat(worker_id: int) -> None:
    _ref(worker_id).update({"last_seen": clock.now()})


def count_run_writes(batch: Any, *, worker_id: int, failed: bool) -> None:
    """Count one finished run on the worker, in the batch that finishes it."""
    field = "failed_runs" if failed else "completed_runs"
    batch.update(_ref(worker_id), {field: increment(1)})


def count_lapsed_run(worker_id: int) -> None:
    """A claim the sweep took back from a silent worker counts as a failed run (best
    effort: written after the move)."""
    with contextlib.suppress(*CONFLICTS):  # the worker is gone
        _ref(worker_id).update({"failed_runs": increment(1)})


def begin_poll(worker_id: int, *, hold_s: float) -> str:
    """Take the worker's poll lease for `hold_s` seconds (RATE_LIMITED while another poll
    holds it). Returns the lease id that `end_poll` gives back."""
    from google.cloud import firestore

    for _ in range(5):
        snap = _ref(worker_id).get()
        if not snap.exists:
            raise AppError(ErrorKind.UNAUTHENTICATED, "unauthorized")
        now = clock.now()
        until = (snap.to_dict() or {}).get("poll_lease_until")
        if until is not None and until > now:
            raise AppError(ErrorKind.RATE_LIMITED, "this worker already has a poll open")
        lease = uuid.uuid4().hex
        try:
            _ref(worker_id).update(
                {
                    "poll_lease_id": lease,
                    "poll_lease_until": now + dt.timedelta(seconds=hold_s),
                    "last_seen": now,  # every poll is an implicit heartbeat
                },
                option=firestore.Client.write_option(last_update_time=snap.update_time),
            )
        except CONFLICTS:
            continue  # a heartbeat or another poll wrote first: look again
        return lease
    raise AppError(ErrorKind.RATE_LIMITED, "this worker already has a poll open")


def end_poll(worker_id: int, lease: str) -> None:
    """Give the poll lease back, if it is still this poll's."""
    from google.cloud import firestore

    for _ in range(5):
        snap = _ref(worker_id).get()
        if not snap.exists or (snap.to_dict() or {}).get("poll_lease_id") != lease:
            return
        try:
            _ref(worker_id).update(
                {"poll_lease_id": None, "poll_lease_until": None},
                option=firestore.Client.write_option(last_update_time=snap.update_time),
            )
            return
        except CONFLICTS:
            continue


def update_models(worker_id: int, models: list[ModelEntry]) -> int:
    served = _served(models)
    _ref(worker_id).update({"models": served, "last_seen": clock.now()})
    return len(served)


def online_workers(now: dt.datetime) -> list[Worker]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db().collection(WORKERS).where(filter=FieldFilter("last_seen", ">", now - OFFLINE_AFTER))
    )
    return [Worker(id=int(s.id), **s.to_dict()) for s in query.stream()]


def offline_ids(worker_ids: set[int], now: dt.datetime) -> set[int]:
    """Which of these workers have gone silent (or no longer exist)."""
    if not worker_ids:
        return set()
    snaps = db().get_all([_ref(w) for w in worker_ids])
    alive = {int(s.id) for s in snaps if s.exists and now - s.get("last_seen") < OFFLINE_AFTER}
    return worker_ids - alive


def catalog(now: dt.datetime) -> list[CatalogEntry]:
    """Models with at least one online worker, by worker count (GET /models)."""
    exact: dict[str, set[int]] = {}
    families: dict[str, set[int]] = {}
    for worker in online_workers(now):
        for entry in worker.models:
            exact.setdefault(entry.name, set()).add(worker.id)
            families.setdefault(family(entry.name), set()).add(worker.id)
    rows = [
        CatalogEntry(
            name=name,
            family=family(name),
            worker_count=len(ids),
            family_worker_count=len(families[family(name)]),
        )
        for name, ids in exact.items()
    ]
    return sorted(rows, key=lambda r: (-r.worker_count, r.name))
