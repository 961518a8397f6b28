"""A creator's analytics: runs, consumers, success and earnings per tars model and per day.

Invariants: runs are the market jobs whose `site_fields.creator_id` is the creator, created
within the period (the last N days up to now, or all time); earnings are the creator's market
EARNING entries (shared/market/earnings.py) created within the same period, so the earnings
figures here agree with /earnings. Days are UTC calendar days; a fixed period lists every day
(zeros included), `all` every day from the first run or earning. Success rate is completed
runs over finished runs (completed, failed, cancelled), in percent with one decimal, null
when none finished. Tarsify has no reviews: ratings are null and review counts 0. Nothing
here writes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.job_records import JobRecord, JobState
from shared.engine.store import JOBS, db
from shared.market import records
from shared.market.earnings import Earning, credits, market_earnings, require_developer, titles

TOP_NOTEBOOKS = 10
FINISHED = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


class Period(StrEnum):
    D7 = "7d"
    D30 = "30d"
    D90 = "90d"
    D365 = "365d"
    ALL = "all"


DAYS = {Period.D7: 7, Period.D30: 30, Period.D90: 90, Period.D365: 365}


def _first_day(period: Period, now: dt.datetime) -> dt.date | None:
    """The first UTC day of the period (a 7-day period is today and the 6 days before)."""
    if period is Period.ALL:
        return None
    return now.date() - dt.timedelta(days=DAYS[period] - 1)


def _start(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def creator_runs(*, creator_id: str, since: dt.datetime | None) -> list[JobRecord]:
    """The creator's market runs created at or after `since`, newest first."""
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.query import Query

    query = (
        db().collection(JOBS).where(filter=FieldFilter("site_fields.creator_id", "==", creator_id))
    )
    if since is not None:
        query = query.where(filter=FieldFilter("created_at", ">=", since))
    query = query.order_by("created_at", direction=Query.DESCENDING)
    return [JobRecord(id=snap.id, **(snap.to_dict() or {})) for snap in query.stream()]


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def _days(first: dt.date | None, today: dt.date, seen: Iterable[dt.date]) -> list[dt.date]:
    seen = list(seen)
    if first is None:
        if not seen:
            return []
        first = min(seen)
    return [first + dt.timedelta(days=n) for n in range((today - first).days + 1)]


def _success_rate(runs: list[JobRecord]) -> float | None:
    finished = [r for r in runs if r.state in FINISHED]
    if not finished:
        return None
    done = sum(1 for r in finished if r.state is JobState.COMPLETED)
    return round(done * 100 / len(finished), 1)


def _window(account_id: str, period: Period) -> tuple[dt.date, dt.date | None, list[Earning]]:
    today = _day(clock.now())
    first = _first_day(period, clock.now().astimezone(dt.UTC))
    since = _start(first)
    earned = [e for e in market_earnings(account_id) if since is None or e.created_at >= since]
    return today, first, earned


def _trend(days: list[dt.date], values: dict[dt.date, int]) -> list[dict[str, Any]]:
    return [{"date": d.isoformat(), "value": values.get(d, 0)} for d in days]


def overview(*, account_id: str, period: Period) -> dict[str, Any]:
    """GET /analytics: the creator's totals, daily trends and top tars models."""
    require_developer(account_id)
    today, first, earned = _window(account_id, period)
    runs = creator_runs(creator_id=account_id, since=_start(first))
    runs_by_day = Counter(_day(r.created_at) for r in runs)
    micros_by_day: dict[dt.date, int] = defaultdict(int)
    for e in earned:
        micros_by_day[_day(e.created_at)] += e.net_micros
    days = _days(first, today, [*runs_by_day, *micros_by_day])
    runs_by_model = Counter(str(r.site_fields.get("tars_model_id")) for r in runs)
    micros_by_model: dict[str, int] = defaultdict(int)
    for e in earned:
        micros_by_model[e.tars_model_id] += e.net_micros
    model_ids = set(runs_by_model) | set(micros_by_model)
    names = {
        str(r.site_fields["tars_model_id"]): str(r.site_fields["title"])
        for r in reversed(runs)
        if r.site_fields.get("tars_model_id") and r.site_fields.get("title")
    }
    names |= titles(job_ids=(), tars_model_ids=model_ids - set(names))
    top = sorted(
        model_ids,
        key=lambda m: (micros_by_model.get(m, 0), runs_by_model.get(m, 0), m),
        reverse=True,
    )[:TOP_NOTEBOOKS]
    return {
        "period": str(period),
        "summary": {
            "totalRuns": len(runs),
            "totalEarnings": credits(sum(e.net_micros for e in earned)),
            "avgRating": None,
            "totalReviews": 0,
            "uniqueConsumers": len({r.account_id for r in runs}),
            "successRate": _success_rate(runs),
        },
        "trends": {
            "runs": _trend(days, dict(runs_by_day)),
            "earnings": _trend(days, {d: credits(m) for d, m in micros_by_day.items()}),
        },
        "topNotebooks": [
            {
                "id": m,
                "title": names.get(m),
                "runs": runs_by_model.get(m, 0),
                "earnings": credits(micros_by_model.get(m, 0)),
            }
            for m in top
        ],
    }


def _own_tars_model(*, account_id: str, tars_model_id: str) -> None:
    snap = db().collection(records.TARS_MODELS).document(tars_model_id).get()
    if not snap.exists or (snap.to_dict() or {}).get("developer_id") != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "Tars model not found", {"code": "ERR_5500"})


def _avg_runtime(runs: list[JobRecord]) -> float | None:
    spans = [
        (r.completed_at - r.started_at).total_seconds()
        for r in runs
        if r.state is JobState.COMPLETED and r.started_at and r.completed_at
    ]
    return round(sum(spans) / len(spans), 1) if spans else None


def notebook(*, account_id: str, tars_model_id: str, period: Period) -> dict[str, Any]:
    """GET /analytics/notebooks/<id>: one of the caller's tars models (else ERR_5500)."""
    require_developer(account_id)
    _own_tars_model(account_id=account_id, tars_model_id=tars_model_id)
    today, first, earned = _window(account_id, period)
    earned = [e for e in earned if e.tars_model_id == tars_model_id]
    runs = [
        r
        for r in creator_runs(creator_id=account_id, since=_start(first))
        if r.site_fields.get("tars_model_id") == tars_model_id
    ]
    runs_by_day = Counter(_day(r.created_at) for r in runs)
    days = _days(first, today, [*runs_by_day, *(_day(e.created_at) for e in earned)])
    return {
        "notebookId": tars_model_id,
        "period": str(period),
        "summary": {
            "totalRuns": len(runs),
            "totalEarnings": credits(sum(e.net_micros for e in earned)),
            "avgRuntime": _avg_runtime(runs),
            "successRate": _success_rate(runs),
            "rating": None,
            "reviewCount": 0,
            "uniqueConsumers": len({r.account_id for r in runs}),
        },
        "trends": {"runs": _trend(days, dict(runs_by_day))},
    }
