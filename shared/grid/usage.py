"""Grid usage and the free-tier quota (100 requests and 50,000 tokens per UTC day).

One document per account per day, `grid_usage/<account>_<YYYY-MM-DD>`, changed only by
atomic increments. Counting a request returns the day's totals with the write itself, so
the quota check is one blind write, never a read-modify-write on a hot document.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from shared.engine import clock
from shared.engine.store import db, increment

USAGE = "grid_usage"
REQUESTS_PER_DAY = 100
TOKENS_PER_DAY = 50_000
PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 30}


class Usage(BaseModel):
    """An account's use over a period (one tag's, when a tag is given)."""

    period: str
    tag: str | None
    tokens: int
    requests: int
    by_tag: dict[str, int]


def _day(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d")


def _ref(account_id: str, day: str) -> Any:
    return db().collection(USAGE).document(f"{account_id}_{day}")


def _tags_ref(account_id: str, day: str) -> Any:
    # Per-tag counters live apart so the totals' increments come back in a known order.
    return db().collection(USAGE).document(f"{account_id}_{day}_tags")


def next_reset(moment: dt.datetime) -> dt.datetime:
    start = moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + dt.timedelta(days=1)


def count_request(*, account_id: str, tag: str | None, now: dt.datetime) -> bool:
    """Count one job against today's quota; True while the account is within it."""
    update: dict[str, Any] = {
        "requests": increment(1),
        "tokens": increment(0),
        "account_id": account_id,
        "day": _day(now),
    }
    batch = db().batch()
    batch.set(_ref(account_id, _day(now)), update, merge=True)
    if tag:
        batch.set(_tags_ref(account_id, _day(now)), {"requests": {tag: increment(1)}}, merge=True)
    result = batch.commit()[0]
    requests, tokens = (int(v.integer_value) for v in result.transform_results[:2])
    return requests <= REQUESTS_PER_DAY and tokens < TOKENS_PER_DAY


def uncount_request(*, account_id: str, tag: str | None, now: dt.datetime) -> None:
    """Take back a counted request that did not become a job (e.g. refused for funds)."""
    batch = db().batch()
    batch.set(_ref(account_id, _day(now)), {"requests": increment(-1)}, merge=True)
    if tag:
        batch.set(_tags_ref(account_id, _day(now)), {"requests": {tag: increment(-1)}}, merge=True)
    batch.commit()


def within_quota(*, account_id: str, now: dt.datetime) -> bool:
    snap = _ref(account_id, _day(now)).get()
    data = snap.to_dict() or {}
    return (
        int(data.get("requests", 0)) <= REQUESTS_PER_DAY
        and int(data.get("tokens", 0)) < TOKENS_PER_DAY
    )


def record_tokens_writes(
    batch: Any, *, account_id: str, tag: str | None, tokens: int, now: dt.datetime
) -> None:
    batch.set(
        _ref(account_id, _day(now)),
        {"tokens": increment(tokens), "account_id": account_id, "day": _day(now)},
        merge=True,
    )
    if tag:
        batch.set(
            _tags_ref(account_id, _day(now)), {"tokens": {tag: increment(tokens)}}, merge=True
        )


def usage(*, account_id: str, period: str, tag: str | None) -> Usage:
    today = clock.now()
    days = [_day(today - dt.timedelta(days=i)) for i in range(PERIOD_DAYS[period])]
    tokens = requests = 0
    by_tag: dict[str, int] = {}
    refs = [_ref(account_id, d) for d in days] + [_tags_ref(account_id, d) for d in days]
    for snap in db().get_all(refs):
        data = snap.to_dict() or {}
        if snap.id.endswith("_tags"):
            for name, value in (data.get("tokens") or {}).items():
                by_tag[name] = by_tag.get(name, 0) + int(value)
            if tag:
                tokens += int((data.get("tokens") or {}).get(tag, 0))
                requests += int((data.get("requests") or {}).get(tag, 0))
        elif not tag:
            tokens += int(data.get("tokens", 0))
            requests += int(data.get("requests", 0))
    return Usage(period=period, tag=tag, tokens=tokens, requests=requests, by_tag=by_tag)
