"""POST /api/marketplace/models/:slug/run: start a run of a published tars model.

`RUN_ROUTES` joins the marketplace models function (functions/market/models.py).
"""

import flask

from functions.market import site
from shared.market import run_views
from shared.market import runs as runs_service


def run_model(request: flask.Request, slug: str) -> flask.Response:
    caller = site.consumer(request)
    slug = site.path_slug(slug)
    run = site.body(request, run_views.RunRequest)
    job = runs_service.submit_run(
        account_id=caller.account_id,
        slug=slug,
        inputs=run.inputs,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return site.ok(run_views.render_started(job), 202)


RUN_ROUTES = [("POST", "/api/marketplace/models/<slug>/run", run_model)]
