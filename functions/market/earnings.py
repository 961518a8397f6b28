"""Tarsify studio money: /api/studio/analytics/*, /api/studio/earnings/*, /api/studio/payouts/*.

Every route is a registered developer's (ERR_1004 otherwise, from the services); money is in
credits (1 credit = $0.01). Query and body models: shared/market/earnings_views.py.
"""

from __future__ import annotations

import flask
import functions_framework

from functions.http import client_network
from functions.market import site
from functions.market.site import market_entry
from shared.engine import ratelimit
from shared.market import analytics, earnings, payouts
from shared.market import earnings_views as views
from shared.market.records import PayoutStatus


def get_analytics(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    q = site.query(request, views.PeriodQuery)
    return site.ok(analytics.overview(account_id=caller.account_id, period=q.period))


def get_notebook_analytics(request: flask.Request, item_id: str) -> flask.Response:
    caller = site.studio_caller(request)
    tars_model_id = site.path_id(item_id)
    q = site.query(request, views.PeriodQuery)
    found = analytics.notebook(
        account_id=caller.account_id, tars_model_id=tars_model_id, period=q.period
    )
    return site.ok(found)


def get_earnings(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    return site.ok(earnings.summary(caller.account_id))


def get_history(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    q = site.query(request, views.HistoryQuery)
    items, page = earnings.history(
        account_id=caller.account_id, start=q.start, end=q.end, page=q.page, limit=q.limit
    )
    return site.ok(items, meta=page)


def get_payouts(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    q = site.query(request, views.PayoutsQuery)
    status = None if q.status == "all" else PayoutStatus(q.status)
    items, page = payouts.list_payouts(
        account_id=caller.account_id, status=status, page=q.page, limit=q.limit
    )
    return site.ok(items, meta=page)


def request_payout(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    b = site.body(request, views.PayoutRequestBody)
    payout = payouts.request_payout(
        account_id=caller.account_id,
        amount=b.amount,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return site.ok(payout, 201)


def connect_stripe(request: flask.Request) -> flask.Response:
    caller = site.studio_caller(request)
    ratelimit.limit("stripe_connect", network=client_network(request), account_id=caller.account_id)
    b = site.optional_body(request, views.ConnectStripeBody)
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
