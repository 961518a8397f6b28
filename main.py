"""Cloud Functions entry module: every deployed function, by the name firebase.json uses.

Deploy with `--source .` and `--entry-point <name>`; the local gateway serves the same
objects through functions-framework. Importing it configures structured logging (JSON
lines on stdout, which Cloud Logging parses) once for the process.
"""

import functions_framework
from werkzeug.exceptions import MethodNotAllowed, NotFound

from functions.callbacks import callback_gpu
from functions.grid.catalog import grid_catalog
from functions.grid.jobs import grid_jobs
from functions.grid.worker import grid_worker
from functions.library.api import library_api
from functions.library.internal import library_internal
from functions.library.tasks import task_library_scan
from functions.library.ui import library_ui
from functions.market.admin import market_admin
from functions.market.docs import market_docs
from functions.market.earnings import market_earnings
from functions.market.models import market_models
from functions.market.notebooks import market_notebooks
from functions.market.runs import market_runs
from functions.market.studio import market_studio
from functions.media.account import media_account
from functions.media.affiliates import media_affiliates
from functions.media.arcade import media_arcade
from functions.media.arcade_play import media_arcade_play
from functions.media.auth import media_auth
from functions.media.catalog import media_catalog
from functions.media.jobs import media_jobs
from functions.media.payments import media_payments
from functions.media.studio import media_studio
from functions.media.studio_agent import media_studio_agent
from functions.payments import coinbase_webhook, stripe_webhook
from functions.pics.catalog import pics_catalog
from functions.pics.jobs import pics_jobs
from functions.pics.users import pics_users
from functions.studio_tasks import studio_agent_task
from functions.tasks import task_dispatch, task_sweep
from functions.webhooks import task_deliver_webhook
from shared.engine import logs

logs.configure()

__all__ = [
    "callback_gpu",
    "coinbase_webhook",
    "grid_catalog",
    "grid_jobs",
    "grid_worker",
    "library_api",
    "library_internal",
    "library_ui",
    "market_admin",
    "market_docs",
    "market_earnings",
    "market_models",
    "market_notebooks",
    "market_runs",
    "market_studio",
    "media_account",
    "media_affiliates",
    "media_arcade",
    "media_arcade_play",
    "media_auth",
    "media_catalog",
    "media_jobs",
    "media_payments",
    "media_studio",
    "media_studio_agent",
    "pics_catalog",
    "pics_jobs",
    "pics_users",
    "stripe_webhook",
    "studio_agent_task",
    "task_deliver_webhook",
    "task_dispatch",
    "task_library_scan",
    "task_sweep",
]


# A path functions-framework's own router cannot match (a newline in it, say) never reaches
# a function; answer it in JSON like every site, not with Flask's HTML page.
@functions_framework.errorhandler(NotFound)
def _unroutable(_: Exception) -> tuple[dict[str, str], int]:
    return {"error": "not_found", "code": "NOT_FOUND"}, 404


@functions_framework.errorhandler(MethodNotAllowed)
def _wrong_method(_: Exception) -> tuple[dict[str, str], int]:
    return {"error": "method_not_allowed", "code": "METHOD_NOT_ALLOWED"}, 405
