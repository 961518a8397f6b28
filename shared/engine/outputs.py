"""The Blobs port: job outputs in Cloud Storage, handed to clients as V4 signed URLs.

Object paths are derived from the job (`outputs/<job>/<n>.<ext>`), so a retried
completion overwrites the same object instead of leaving a second one. Outputs are
downloadable for `output_url_ttl_s` (48 h) after completion; the bucket's lifecycle rule
(infra/) deletes them after 72 h.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from shared.engine.clients import storage_client
from shared.engine.settings import get_settings

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "application/json": "json",
    "video/mp4": "mp4",
    "audio/ogg": "ogg",
    "audio/wav": "wav",
    "model/gltf-binary": "glb",
}


def bucket() -> Any:
    return storage_client().bucket(get_settings().bucket)


def ensure_bucket() -> None:
    """Create the bucket if missing (local stack; production declares it in infra/)."""
    client = storage_client()
    if client.lookup_bucket(get_settings().bucket) is None:
        client.create_bucket(get_settings().bucket)


def output_path(job_id: str, index: int, content_type: str) -> str:
    return f"outputs/{job_id}/{index}.{EXTENSIONS.get(content_type, 'bin')}"


def put_output(*, job_id: str, index: int, data: bytes, content_type: str) -> str:
    path = output_path(job_id, index, content_type)
    bucket().blob(path).upload_from_string(data, content_type=content_type)
    return path


def read_output(path: str) -> bytes:
    return bucket().blob(path).download_as_bytes()


@functools.cache
def _signing_credentials() -> Any:
    from google.oauth2 import service_account

    key_file = get_settings().signing_key_file
    if key_file:
        return service_account.Credentials.from_service_account_file(key_file)
    return None


def signed_url(
    path: str,
    *,
    expires_at: dt.datetime,
    now: dt.datetime,
    method: str = "GET",
    content_type: str | None = None,
) -> str | None:
    """A V4 signed URL (GET, or PUT bound to `content_type` for a handler's upload) valid
    until `expires_at`, or None once that has passed."""
    lifetime = expires_at - now
    if lifetime <= dt.timedelta(0):
        return None
    # V4 URLs may live at most 7 days.
    lifetime = min(lifetime, dt.timedelta(days=7))
    settings = get_settings()
    blob = bucket().blob(path)
    kwargs: dict[str, Any] = {"version": "v4", "expiration": lifetime, "method": method}
    if content_type is not None:
        kwargs["content_type"] = content_type
    if settings.storage_emulator_host:
        kwargs["api_access_endpoint"] = settings.storage_emulator_host
    creds = _signing_credentials()
    if creds is not None:
        kwargs["credentials"] = creds
    else:
        # Cloud Functions: no key file; sign through IAM with the runtime service account.
        import google.auth
        import google.auth.transport.requests

        runtime, _ = google.auth.default()
        runtime.refresh(google.auth.transport.requests.Request())
        kwargs["service_account_email"] = getattr(runtime, "service_account_email", None)
        kwargs["access_token"] = runtime.token
    return blob.generate_signed_url(**kwargs)
