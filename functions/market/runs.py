"""Tarsify marketplace runs: /api/marketplace/runs/*."""

import flask
import functions_framework

from functions.market import site
from shared.market import paging, run_views
from shared.market import runs as runs_service


def list_runs(request: flask.Request) -> flask.Response:
    caller = site.consumer(request)
    params = site.query(request, run_views.RunsQuery)
    items, total = runs_service.list_runs(
        account_id=caller.account_id, status=params.status, page=params.page, limit=params.limit
    )
    return site.ok(
        [run_views.render_item(job) for job in items],
        meta=paging.meta(page=params.page, limit=params.limit, total=total),
    )


def get_run(request: flask.Request, run_id: str) -> flask.Response:
    caller = site.consumer(request)
    job = runs_service.get_run(account_id=caller.account_id, run_id=site.path_id(run_id))
    return site.ok(run_views.render_run(job))


def run_status(request: flask.Request, run_id: str) -> flask.Response:
    caller = site.consumer(request)
    run_id = site.path_id(run_id)
    params = site.query(request, run_views.StatusQuery)
    job = runs_service.run_status(
        account_id=caller.account_id, run_id=run_id, sync=params.wants_sync
    )
    return site.ok(run_views.render_status(job))


def cancel_run(request: flask.Request, run_id: str) -> flask.Response:
    caller = site.consumer(request)
    job = runs_service.cancel_run(account_id=caller.account_id, run_id=site.path_id(run_id))
    return site.ok(run_views.render_cancelled(job))


_handle = site.market_entry(
    [
        ("GET", "/api/marketplace/runs", list_runs),
        ("GET", "/api/marketplace/runs/<run_id>", get_run),
        ("GET", "/api/marketplace/runs/<run_id>/status", run_status),
        ("POST", "/api/marketplace/runs/<run_id>/cancel", cancel_run),
    ]
)


@functions_framework.http
def market_runs(request: flask.Request) -> flask.Response:
    return _handle(request)
