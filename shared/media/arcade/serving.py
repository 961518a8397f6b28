"""Serving a launched release's files: `/arcade/play/<token>/<path>`.

The signature sits in the path, so the Godot export's relative fetches (index.js,
index.wasm, index.pck) carry it without any change to the export. A file is served only
when the token is genuine and unexpired, its session exists, and the path is one of the
release's manifest files; anything else is a 404 that reads no object. Every served file
carries `serving_headers(path)` (COOP/COEP/CORP, nosniff, its exact type) and is private to
the browser's cache until the session expires.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.engine import clock, outputs
from shared.engine.errors import AppError, ErrorKind
from shared.media.arcade import launches
from shared.media.arcade.headers import serving_headers


@dataclass(frozen=True)
class ServedFile:
    data: bytes
    headers: dict[str, str]


def play_file(*, token: str, path: str) -> ServedFile:
    now = clock.now()
    session_id = launches.read_token(token, now=now)
    session = launches.find(session_id) if session_id else None
    if session is None or session.expired(now):
        raise AppError(ErrorKind.NOT_FOUND, "no such game file (the link is invalid or expired)")
    if path not in {f.path for f in session.files}:
        raise AppError(ErrorKind.NOT_FOUND, "no such game file")
    data = outputs.bucket().blob(f"{session.prefix}files/{path}").download_as_bytes()
    remaining = max(1, int((session.expires_at - now).total_seconds()))
    headers = {**serving_headers(path), "Cache-Control": f"private, max-age={remaining}"}
    return ServedFile(data=data, headers=headers)
