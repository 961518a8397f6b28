"""HTTP client for the grid's worker API (`/worker/*` of the Vibe Earning document).

Calls, exactly as documented (all with `Authorization: Bearer <key>`):
`POST /worker/register` (201), `GET /worker/jobs/next?models[]=..&families[]=..&catch_all=..`
(200 job | 204 nothing within the 30 s long poll), `PATCH /worker/jobs/{id}/start`,
`POST /worker/jobs/{id}/result`, `POST /worker/jobs/{id}/fail`, `PATCH /worker/heartbeat`.

Invariants:
- Every failure is one of three `GridError`s, so callers decide by kind, not by status:
  `GridAuthError` (401/403: the key is wrong, revoked or disabled; retrying cannot help),
  `GridUnavailable` (network error, timeout, 429 or 5xx: retry later, with backoff),
  `GridRejected` (any other 4xx: this request will never succeed, e.g. a job that is no
  longer `claimed`/`running`).
- The long poll's read timeout exceeds the server's 30 s window, so an idle grid answers
  204 rather than timing the client out.
- The API key is sent only in the Authorization header and never appears in an error.
- Safe to share between threads (httpx.Client is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

AGENT_VERSION = "1.0.0"
SERVER_POLL_WINDOW_S = 30.0  # the document's long-poll window
POLL_READ_TIMEOUT_S = SERVER_POLL_WINDOW_S + 15.0
REQUEST_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0


class GridError(Exception):
    """A worker API call failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GridAuthError(GridError):
    """The grid refused the API key (401) or the account (403)."""


class GridUnavailable(GridError):
    """The grid could not be reached or failed on its side; try again later."""


class GridRejected(GridError):
    """The grid refused this request for good (4xx other than auth)."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    serves_family: bool = False


@dataclass(frozen=True)
class Registration:
    """What `POST /worker/register` sends (WorkerRegisterRequest)."""

    name: str
    agent_version: str
    platform: str
    models: tuple[ModelEntry, ...]
    catch_all: bool = False

    def body(self) -> dict[str, Any]:
        data = asdict(self)
        data["models"] = [asdict(m) for m in self.models]
        return data


@dataclass(frozen=True)
class Registered:
    """WorkerRegisterResponse."""

    worker_id: int | str | None
    worker_token: str | None


@dataclass(frozen=True)
class JobAssignment:
    """A job handed out by `GET /worker/jobs/next` (JobAssignment)."""

    job_id: int | str
    prompt: str
    model: str | None = None
    model_family: str | None = None
    model_match: str | None = None
    blobs: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, data: Any) -> JobAssignment:
        if not isinstance(data, dict) or data.get("job_id") in (None, ""):
            raise GridUnavailable("jobs/next returned a job without job_id")
        return cls(
            job_id=data["job_id"],
            prompt=str(data.get("prompt") or ""),
            model=data.get("model") or None,
            model_family=data.get("model_family") or None,
            model_match=data.get("model_match") or None,
            blobs=tuple(b for b in data.get("blobs") or [] if isinstance(b, dict)),
        )


@dataclass(frozen=True)
class JobResult:
    """What `POST /worker/jobs/{id}/result` sends (JobResultRequest)."""

    output: str
    input_tokens: int
    output_tokens: int
    duration_ms: int
    model_used: str

    def body(self) -> dict[str, Any]:
        return asdict(self)


class GridClient:
    """The worker API of one grid, authenticated with one API key."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = f"grid-worker/{AGENT_VERSION}",
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = api_key
        self._http = httpx.Client(
            # httpx joins "worker/..." onto the base URL's path (/api/v1/worker/...).
            base_url=self.api_url + "/",
            timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Sequence[tuple[str, str]] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = self._http.request(
                method,
                path,
                json=json,
                params=list(params) if params else None,
                headers=headers,
                timeout=(
                    httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S)
                    if timeout
                    else httpx.USE_CLIENT_DEFAULT  # None would mean "no timeout at all"
                ),
            )
        except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
            raise GridUnavailable(f"{method} /{path}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status < 400:
            return response
        message = f"{method} /{path}: {status} {_error_text(response)}"
        if status in (401, 403):
            raise GridAuthError(message, status=status)
        if status == 429 or status >= 500:
            raise GridUnavailable(message, status=status)
        raise GridRejected(message, status=status)

    def register(self, registration: Registration) -> Registered:
        response = self._request("POST", "worker/register", json=registration.body())
        data = _json_object(response)
        token = data.get("worker_token")
        if isinstance(token, str) and token:
            # The document makes the returned token the one to use from now on (today it
            # echoes the key we registered with).
            self._token = token
        return Registered(worker_id=data.get("worker_id"), worker_token=token)

    def next_job(
        self, *, models: Sequence[str], families: Sequence[str], catch_all: bool
    ) -> JobAssignment | None:
        """Long-poll for a job: the assignment, or None when the window passed (204)."""
        params = [("models[]", m) for m in models]
        params += [("families[]", f) for f in families]
        params.append(("catch_all", "true" if catch_all else "false"))
        response = self._request(
            "GET", "worker/jobs/next", params=params, timeout=POLL_READ_TIMEOUT_S
        )
        if response.status_code == 204 or not response.content:
            return None
        return JobAssignment.from_json(_json_object(response))

    def start(self, job_id: int | str) -> None:
        self._request("PATCH", f"worker/jobs/{job_id}/start")

    def submit_result(self, job_id: int | str, result: JobResult) -> None:
        self._request("POST", f"worker/jobs/{job_id}/result", json=result.body())

    def fail(self, job_id: int | str, error: str) -> None:
        self._request("POST", f"worker/jobs/{job_id}/fail", json={"error": error})

    def heartbeat(self) -> None:
        self._request("PATCH", "worker/heartbeat")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise GridUnavailable(f"{response.request.url.path}: response is not JSON") from exc
    if not isinstance(data, dict):
        raise GridUnavailable(f"{response.request.url.path}: response is not a JSON object")
    return data


def _error_text(response: httpx.Response) -> str:
    """The grid's `{"error": ...}` (or `{"errors": [...]}`) message, else the body's start."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        if "error" in data:
            return str(data["error"])[:500]
        if "errors" in data:
            return str(data["errors"])[:500]
    return str(data)[:200]
