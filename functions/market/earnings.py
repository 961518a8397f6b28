"""Tarsify studio money: /api/studio/analytics/*, /api/studio/earnings/*, /api/studio/payouts/*.

Every route is a registered developer's (ERR_1004 otherwise, from the services); money is in
credits (1 credit = $0.01). Query and body models here; the rules live in shared/market/.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import flask
import functions_framework
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

from functions.http import read_body
from functions.market import site
from functions.market.site import market_entry
from shared.market import analytics, earnings, payouts
from shared.market.paging import MAX_LIMIT, PageQuery
from shared.market.records import PayoutStatus

MAX_URL = 2048
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


def _web_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http or https URL")
    return value


WebUrl = Annotated[str, Field(max_length=MAX_URL), AfterValidator(_web_url)]


class ConnectStripeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    returnUrl: WebUrl | None = None
    refreshUrl: WebUrl | None = None


def get_analytics(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    q = site.query(request, PeriodQuery)
    return site.ok(analytics.overview(account_id=caller.account_id, period=q.period))


def get_notebook_analytics(request: flask.Request, item_id: str) -> flask.Response:
    caller = site.studio_caller(request)
    tars_model_id = site.path_id(item_id)
    q = site.query(request, PeriodQuery)
    found = analytics.notebook(
        account_id=caller.account_id, tars_model_id=tars_model_id, period=q.period
    )
    return site.ok(found)


def get_earnings(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    return site.ok(earnings.summary(caller.account_id))


def get_history(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    q = site.query(request, HistoryQuery)
    items, page = earnings.history(
        account_id=caller.account_id, start=q.start, end=q.end, page=q.page, limit=q.limit
    )
    return site.ok(items, meta=page)


def get_payouts(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    q = site.query(request, PayoutsQuery)
    status = None if q.status == "all" else PayoutStatus(q.status)
    items, page = payouts.list_payouts(
        account_id=caller.account_id, status=status, page=q.page, limit=q.limit
    )
    return site.ok(items, meta=page)


def request_payout(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    b = site.body(request, PayoutRequestBody)
    payout = payouts.request_payout(
        account_id=caller.account_id,
        amount=b.amount,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return site.ok(payout, 201)


def connect_stripe(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    # Both fields are optional, so no body at all is the defaults.
    b = site.body(request, ConnectStripeBody) if read_body(request).strip() else ConnectStripeBody()
    link = payouts.connect_stripe(
        account_id=caller.account_id, return_url=b.returnUrl, refresh_url=b.refreshUrl
    )
    return site.ok(link)


_handle = market_entry(
    [
        ("GET", "/api/studio/analytics", get_analytics),
        ("GET", "/api/studio/analytics/notebooks/<item_id>", get_notebook_analytics),
        ("GET", "/api/studio/earnings", get_earnings),
        ("GET", "/api/studio/earnings/history", get_history),
        ("GET", "/api/studio/payouts", get_payouts),
        ("POST", "/api/studio/payouts/request", request_payout),
        ("POST", "/api/studio/payouts/connect-stripe", connect_stripe),
    ]
)


@functions_framework.http
def market_earnings(request: flask.Request) -> flask.Response:
    return _handle(request)
