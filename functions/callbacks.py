"""GPU backend completion callbacks (RunPod webhooks; Modal posts the same shape).

Verified by the per-job token before the body is read: the `X-Relay-Callback-Token` header
(Modal, local paths), or for RunPod only, whose webhook is a bare URL, the URL's own token
(shared/engine/dispatch.py). Answers 200 once the report is applied or known to be stale,
so the sender stops retrying; a missing or wrong token is 401 and changes nothing.
"""

import flask
import functions_framework

from functions.http import entry_point, json_response, parse_json
from functions.internal import render_error
from shared import market as _market  # noqa: F401  (registers the market's settlement shares)
from shared.engine import dispatch, validate
from shared.engine.errors import AppError, ErrorKind


def gpu_done(request: flask.Request) -> flask.Response:
    job_id = request.args.get("job", "")
    header_token = request.headers.get(dispatch.CALLBACK_TOKEN_HEADER, "")
    token = header_token or request.args.get("token", "")
    if not job_id or not token:
        raise AppError(ErrorKind.UNAUTHENTICATED, "missing callback token")
    job_id = validate.doc_id(job_id, name="job")
    body = parse_json(request)
    if not isinstance(body, dict):
        raise AppError(ErrorKind.INVALID, "body must be a JSON object")
    job = dispatch.handle_callback(job_id=job_id, token=token, body=body, in_url=not header_token)
    return json_response({"job_id": job.id, "state": str(job.state)})


_handle = entry_point([("POST", "/", gpu_done), ("POST", "/callback_gpu", gpu_done)], render_error)


@functions_framework.http
def callback_gpu(request: flask.Request) -> flask.Response:
    return _handle(request)
