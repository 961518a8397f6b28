"""Media handler tests against real signed URLs: a Cloud Storage emulator of their own.

`media_bucket` (session fixture) starts gcp-storage-emulator on a free loopback port and
signs V4 URLs with the local service-account key, exactly as the gateway does, so a handler
fetches its inputs and PUTs its output the way it does in production:

    job = media_bucket.payload("ffmpeg-video", "video.resize", {...input...},
                               content_type="video/mp4")
    job["input"]["sourceVideoUrl"] = media_bucket.stage(mp4_bytes, "video/mp4")
    answer = get_handler("ffmpeg-video").generate(job)
    data = media_bucket.output(job)        # the bytes the handler uploaded
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUCKET = "relay-handler-tests"
MAX_OUTPUT_BYTES = 256 * 1024 * 1024


class MediaBucket:
    def __init__(self, endpoint: str) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        from google.oauth2 import service_account

        self.endpoint = endpoint
        self.client = storage.Client(project="demo-relay", credentials=AnonymousCredentials())
        self.client._connection.API_BASE_URL = endpoint  # type: ignore[attr-defined]
        self.bucket = self.client.lookup_bucket(BUCKET) or self.client.create_bucket(BUCKET)
        self.creds = service_account.Credentials.from_service_account_file(
            str(REPO / ".local" / "signing-sa.json")
        )

    def _sign(self, path: str, method: str, content_type: str | None = None) -> str:
        kwargs: dict[str, Any] = {}
        if content_type:
            kwargs["content_type"] = content_type
        return str(
            self.bucket.blob(path).generate_signed_url(
                version="v4",
                expiration=dt.timedelta(hours=1),
                method=method,
                credentials=self.creds,
                api_access_endpoint=self.endpoint,
                **kwargs,
            )
        )

    def stage(self, data: bytes, mime: str) -> dict[str, Any]:
        """Upload `data` as a staged input; returns the MediaFile dict a handler receives."""
        path = f"staged/{uuid.uuid4().hex}"
        self.bucket.blob(path).upload_from_string(data, content_type=mime)
        return {"url": self._sign(path, "GET"), "mimeType": mime, "sizeBytes": len(data)}

    def payload(
        self, handler: str, task: str, input: dict[str, Any], *, content_type: str
    ) -> dict[str, Any]:
        job_id = uuid.uuid4().hex
        path = f"outputs/{job_id}/0"
        return {
            "handler": handler,
            "task": task,
            "jobId": job_id,
            "input": input,
            "output": {
                "uploadUrl": self._sign(path, "PUT", content_type),
                "contentType": content_type,
                "maxBytes": MAX_OUTPUT_BYTES,
            },
        }

    def output(self, job: dict[str, Any]) -> bytes:
        blob = self.bucket.get_blob(f"outputs/{job['jobId']}/0")
        assert blob is not None, "the handler uploaded nothing"
        assert blob.content_type == job["output"]["contentType"]
        return bytes(blob.download_as_bytes())


@pytest.fixture(scope="session")
def media_bucket() -> Iterator[MediaBucket]:
    from infra.local.stack import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.local.storage_emulator",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, "gcp-storage-emulator", timeout=30)
        yield MediaBucket(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
