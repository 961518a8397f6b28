"""Request models of the studio's money routes (analytics, earnings, payouts): what a
query or body may say, and how history bounds read.

History `from`/`to` take an ISO 8601 date (the whole UTC day) or a datetime (naive: UTC),
both inclusive; `from` after `to` is refused. A payout amount is a JSON integer of at most
10^12 credits (so its micros fit Firestore's 64-bit integers); below the minimum is the
service's ERR_4002, not a parsing error.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from shared.market import analytics
from shared.market.fields import WebUrl
from shared.market.paging import MAX_LIMIT, PageQuery
from shared.market.records import PayoutStatus

MAX_PAYOUT_CREDITS = 10**12  # keeps micros within Firestore's 64-bit integers


class PeriodQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    period: analytics.Period = analytics.Period.D30


def _moment(raw: str, *, end: bool) -> dt.datetime:
    """An ISO 8601 date (the whole day) or datetime (naive: UTC). As an end, the bound is
    exclusive: the day after a date, the next microsecond after a datetime."""
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        try:
            return moment + dt.timedelta(microseconds=1) if end else moment
        except OverflowError:
            return dt.datetime.max.replace(tzinfo=dt.UTC)
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    try:
        return start + dt.timedelta(days=1) if end else start
    except OverflowError:  # to=9999-12-31: no end at all
        return dt.datetime.max.replace(tzinfo=dt.UTC)


class HistoryQuery(PageQuery):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    start: dt.datetime | None = Field(None, alias="from")
    end: dt.datetime | None = Field(None, alias="to")

    @model_validator(mode="before")
    @classmethod
    def _bounds(cls, raw: dict[str, str]) -> dict[str, object]:
        parsed: dict[str, object] = dict(raw)
        for name, end in (("from", False), ("to", True)):
            if name in raw:
                try:
                    parsed[name] = _moment(str(raw[name]), end=end)
                except ValueError:
                    raise ValueError(f"{name} must be an ISO 8601 date or datetime") from None
        return parsed

    @model_validator(mode="after")
    def _ordered(self) -> HistoryQuery:
        if self.start and self.end and self.start >= self.end:
            raise ValueError("from must not be after to")
        return self


class PayoutsQuery(PageQuery):
    model_config = ConfigDict(extra="ignore")

    status: PayoutStatus | Literal["all"] = "all"


class PayoutRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(le=MAX_PAYOUT_CREDITS)  # below the minimum: ERR_4002


class ConnectStripeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    returnUrl: WebUrl | None = None
    refreshUrl: WebUrl | None = None
