"""Cloud Tasks target: deliver one signed outbound webhook.

Answers 2xx when the delivery is done, given up, scheduled for later or being sent by a
duplicate of this task, and 503 only when a retry could help (the receiver failed and the
delivery has attempts left). An OIDC token of the tasks account guards it like every other
task target (shared/engine/task_auth.py).
"""

import flask
import functions_framework

from functions.http import entry_point, json_response, parse_body
from functions.internal import render_error, require_task, task_attempt
from shared.engine import webhooks
from shared.engine.queue import Target


def run_deliver_webhook(request: flask.Request) -> flask.Response:
    require_task(request, Target.DELIVER_WEBHOOK)
    task = parse_body(request, webhooks.DeliveryTask)
    outcome = webhooks.deliver(task.model_dump(), attempt=task_attempt(request))
    return json_response({"delivery_id": task.delivery_id, "outcome": outcome})


_deliver_webhook = entry_point(
    [("POST", "/", run_deliver_webhook), ("POST", "/task_deliver_webhook", run_deliver_webhook)],
    render_error,
)


@functions_framework.http
def task_deliver_webhook(request: flask.Request) -> flask.Response:
    return _deliver_webhook(request)
