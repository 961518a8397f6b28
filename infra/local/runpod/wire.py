"""What every answer of the local RunPod control plane shares: ``{"error": message}`` with its
status code, JSON bodies, the API-key and endpoint check in front of every ``/v2`` route, and
parsing of the two request bodies (a client's submission, a worker's result or stream chunk).
A parse failure raises ``ValueError`` before anything changes; routes answer it with a 400.
"""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

import flask

from infra.local.runpod.plane import ControlPlane

Submission = tuple[Any, str | None, int | None, int | None]


def error(status: int, message: str) -> flask.Response:
    response = flask.jsonify({"error": message})
    response.status_code = status
    return response


def json_response(status: int, body: Any) -> flask.Response:
    response = flask.jsonify(body)
    response.status_code = status
    return response


def guard(
    plane: ControlPlane,
) -> Callable[[Callable[..., flask.Response]], Callable[..., flask.Response]]:
    """A decorator for ``/v2/<endpoint_id>/...`` views: the view gets the endpoint instead."""

    def guarded(view: Callable[..., flask.Response]) -> Callable[..., flask.Response]:
        """Check the key first (401 beats 404, like hosted), then resolve the endpoint."""

        @wraps(view)
        def wrapper(endpoint_id: str, **kwargs: Any) -> flask.Response:
            if not plane.check_key(flask.request.headers.get("Authorization")):
                return error(401, "Unauthorized")
            ep = plane.endpoints.get(endpoint_id)
            if ep is None:
                return error(404, f"endpoint {endpoint_id} not found")
            return view(ep, **kwargs)

        return wrapper

    return guarded


def _positive_ms(policy: dict[str, Any], key: str) -> int | None:
    value = policy.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"policy.{key} must be a positive number of milliseconds")
    return int(value)


def parse_submission() -> Submission:
    """The request's ``(input, webhook, executionTimeout ms, ttl ms)``."""
    try:
        body = json.loads(flask.request.get_data() or b"null")
    except ValueError as exc:
        raise ValueError(f"malformed JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    if body.get("input") is None:
        raise ValueError("missing 'input'")
    webhook = body.get("webhook")
    if webhook is not None and (
        not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))
    ):
        raise ValueError("'webhook' must be an http(s) URL")
    policy = body.get("policy") or {}
    if not isinstance(policy, dict):
        raise ValueError("'policy' must be an object")
    return (
        body["input"],
        webhook,
        _positive_ms(policy, "executionTimeout"),
        _positive_ms(policy, "ttl"),
    )


def parse_worker_body() -> dict[str, Any]:
    # The SDK posts JSON labelled application/x-www-form-urlencoded, so read the raw bytes
    # and never let Flask's form parser consume them.
    body = json.loads(flask.request.get_data(parse_form_data=False) or b"{}")
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body
