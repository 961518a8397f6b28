"""Helpers for the media job tests: real media made locally, a loopback file host for URL
inputs, and the submit / poll calls over HTTP.

Media is made here, never downloaded: PNG/JPEG by Pillow, WAV by numpy + the stdlib `wave`
module, MP4 clips by ffmpeg's lavfi test sources (with a sine tone as the audio track).
"""

from __future__ import annotations

import base64
import io
import subprocess
import tempfile
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from tests.helpers import auth, media_api


def png(width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 60, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def wav(seconds: float = 1.0, rate: int = 16_000, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buf.getvalue()


def mp4(seconds: float = 1.0, size: str = "64x48", fps: int = 30, audio: bool = True) -> bytes:
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi"]
    args += ["-i", f"testsrc=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"]
    args += (["-c:a", "aac", "-shortest"] if audio else []) + ["-movflags", "+faststart"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        subprocess.run([*args, str(out)], capture_output=True, check=True, timeout=60)
        return out.read_bytes()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def inline(data: bytes, mime: str) -> dict[str, str]:
    return {"dataBase64": base64.b64encode(data).decode(), "mimeType": mime}


class FileHost:
    """Serves registered bytes over loopback HTTP (the client's own file server)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = host.files.get(self.path)
                if found is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data, mime = found
                self.send_response(200)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def put(self, data: bytes, mime: str, name: str | None = None) -> str:
        path = f"/{name or uuid.uuid4().hex}"
        self.files[path] = (data, mime)
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@contextmanager
def file_host() -> Iterator[FileHost]:
    host = FileHost()
    try:
        yield host
    finally:
        host.server.shutdown()


def submit(stack: Any, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{media_api(stack)}/media/jobs", json=body, headers=auth(key), timeout=120)


def status(stack: Any, key: str, job_id: str, *, details: bool = False) -> httpx.Response:
    params = {"jobId": job_id, **({"includeDetails": "true"} if details else {})}
    return httpx.get(f"{media_api(stack)}/media/jobs", params=params, headers=auth(key), timeout=30)


def wait_done(stack: Any, key: str, job_id: str, *, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = status(stack, key, job_id, details=True).json()
        if body.get("status") in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"media job {job_id} not finished after {timeout}s: {body}")
