"""Helpers for the Studio integration tests: a client per account, sample files, and direct
reads of what Studio stored (Firestore records, Cloud Storage objects)."""

from __future__ import annotations

import io
import json
import struct
import wave
from dataclasses import dataclass
from typing import Any

import httpx

from shared.engine import outputs
from shared.engine.store import db
from shared.media.studio.models import ASSETS, DOCUMENTS, PROJECTS, SETTINGS, THREADS
from tests.helpers import auth, media_account, media_api

API = "/studio"


@dataclass
class Studio:
    """One account's view of the Studio API."""

    base: str
    account_id: str
    key: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**auth(self.key), **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.base}{API}{path}", headers=headers, timeout=60, **kwargs
        )

    def project(self, title: str = "My project") -> str:
        r = self.call("POST", "/projects", json={"title": title})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def upload(self, project_id: str, filename: str, data: bytes) -> httpx.Response:
        return self.call(
            "POST",
            "/assets/upload",
            params={"projectId": project_id, "filename": filename},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def text(self, project_id: str, title: str = "Notes", content: str = "hello") -> str:
        body = {"projectId": project_id, "title": title, "content": content}
        r = self.call("POST", "/assets/text", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["asset"]["id"])


def studio(stack: Any) -> Studio:
    account_id, key = media_account()
    return Studio(base=media_api(stack), account_id=account_id, key=key)


def docs_of(collection: str, account_id: str) -> list[dict[str, Any]]:
    query = db().collection(collection).where("account_id", "==", account_id)
    return [{"id": s.id, **(s.to_dict() or {})} for s in query.stream()]


def written_by(account_id: str) -> dict[str, int]:
    """How many Studio documents and storage objects the account has (for nothing-written)."""
    counts = {c: len(docs_of(c, account_id)) for c in (PROJECTS, THREADS, ASSETS, DOCUMENTS)}
    settings = db().collection(SETTINGS).document(account_id).get()
    counts[SETTINGS] = 1 if settings.exists else 0
    counts["objects"] = len(objects(f"studio/{account_id}/"))
    return counts


def objects(prefix: str) -> list[str]:
    return [b.name for b in outputs.bucket().client.list_blobs(outputs.bucket(), prefix=prefix)]


def png(width: int = 4, height: int = 4) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def wav(seconds: float = 0.2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


def mp4() -> bytes:
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def glb() -> bytes:
    chunk = json.dumps({"asset": {"version": "2.0"}}).encode()
    chunk += b" " * (-len(chunk) % 4)
    body = struct.pack("<II", len(chunk), 0x4E4F534A) + chunk
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
