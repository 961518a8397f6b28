"""Per-site completion: what a backend's COMPLETED output becomes, and who hears of an end.

A site registers when its package is imported (the engine imports no site):
- `prepare(job) -> payload`: what dispatch sends the backend, built from the stored input
  at each dispatch (a site whose payload carries short-lived capabilities, signed URLs,
  stores only object names and signs here, so none rests in Firestore). Default: the input.
- `collect(job, output) -> Collected`: turns a backend's output into stored outputs (object
  paths) and, for a metered job, the exact capture (never more than the hold: the engine
  caps it). It raises ValueError for an output it cannot accept, and the job FAILS with its
  hold released. Without a collector the output must be the image handlers' PNG answer.
- `notify(job)`: told once the engine has moved one of the site's jobs to a terminal state
  (a completion, a failure, the sweep's timeout). It must be idempotent and must not raise
  for the job's sake: a notifier that fails is logged and the job's state stands; a site
  that must never miss one also catches up from its sweep hook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Collected:
    outputs: list[str]
    capture_micros: int | None = None  # None: capture the whole hold
    fields: dict[str, Any] = field(default_factory=dict)  # stored with the terminal write


Collector = Callable[[Any, Any], Collected]
Notifier = Callable[[Any], None]
Preparer = Callable[[Any], dict[str, Any]]
_collectors: dict[str, Collector] = {}
_notifiers: dict[str, Notifier] = {}
_preparers: dict[str, Preparer] = {}


def register(
    site: str,
    *,
    collect: Collector | None = None,
    notify: Notifier | None = None,
    prepare: Preparer | None = None,
) -> None:
    if collect is not None:
        _collectors[site] = collect
    if notify is not None:
        _notifiers[site] = notify
    if prepare is not None:
        _preparers[site] = prepare


def payload_for(job: Any) -> dict[str, Any]:
    preparer = _preparers.get(str(job.site))
    return preparer(job) if preparer is not None else dict(job.input)


def collector_for(site: str) -> Collector | None:
    return _collectors.get(site)


def notify(job: Any) -> None:
    """Tell the job's site that it ended (no-op for a job that has not, or a site without)."""
    notifier = _notifiers.get(str(job.site))
    if notifier is None or not job.terminal:
        return
    try:
        notifier(job)
    except Exception:  # isolation boundary: the job's end stands; the site's sweep catches up
        log.exception("notifying site %s of job %s failed", job.site, job.id)
