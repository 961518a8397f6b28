"""Arcade test material: tiny Godot-shaped exports, manifests, and zips whose headers lie.

Shared by the bundle unit tests and the arcade integration tests.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
import zipfile
import zlib
from typing import Any

MIB = 1024 * 1024

GODOT = {
    "index.html": b"<!doctype html><html><script src='index.js'></script></html>" * 20,
    "index.js": b"var Engine = function () { return 1; };\n" * 50,
    "index.wasm": b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 8,
    "index.pck": b"GDPC" + bytes(range(256)) * 16,
    "index.png": b"\x89PNG\r\n\x1a\n" + b"\x01" * 64,
    "index.audio.worklet.js": b"class P extends AudioWorkletProcessor {}\n",
}


def manifest(listed: dict[str, bytes], **overrides: Any) -> str:
    body: dict[str, Any] = {
        "formatVersion": 1,
        "engine": "godot",
        "engineVersion": "4.3.0-stable",
        "entry": "index.html",
        "files": [
            {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for path, data in listed.items()
        ],
        "title": "Tiny",
        "orientation": "landscape",
    }
    body.update(overrides)
    return json.dumps(body)


def godot_zip(files: dict[str, bytes], folders: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder in folders:
            archive.writestr(folder, b"")
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


def raw_zip(entries: list[dict[str, Any]]) -> bytes:
    """A zip written by hand, so headers can lie: name, data (as stored), method, crc, size,
    compress_size, attr (unix mode), flags."""
    out, central = bytearray(), bytearray()
    for entry in entries:
        name = entry["name"].encode()
        data = entry.get("data", b"")
        method, flags = entry.get("method", 0), entry.get("flags", 0)
        crc = entry.get("crc", zlib.crc32(data))
        size = entry.get("size", len(data))
        csize = entry.get("compress_size", len(data))
        attr = entry.get("attr", stat.S_IFREG | 0o644) << 16
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0, crc, csize, size, len(name), 0
        )
        out += name + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (3 << 8) | 20,
            20,
            flags,
            method,
            0,
            0,
            crc,
            csize,
            size,
            len(name),
            0,
            0,
            0,
            0,
            attr,
            offset,
        )
        central += name
    count = len(entries)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + eocd)


def godot_entries(files: dict[str, bytes] = GODOT) -> list[dict[str, Any]]:
    return [{"name": path, "data": data} for path, data in files.items()]


def zeros_deflated(gib_fraction_mib: int) -> tuple[bytes, int]:
    """A raw deflate stream of `mib` MiB of zeros, built from one repeated block (fast, ~1 KB
    per MiB), and the CRC-32 of its output."""
    block_compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = block_compressor.compress(bytes(MIB)) + block_compressor.flush(zlib.Z_SYNC_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = block * gib_fraction_mib + tail.flush(zlib.Z_FINISH)
    crc, zero = 0, bytes(MIB)
    for _ in range(gib_fraction_mib):
        crc = zlib.crc32(zero, crc)
    return stream, crc


# --- the running stack ---------------------------------------------------------------------

API = "/api/v1/arcade"


def arcade_account(*, admin: bool = False) -> tuple[str, str]:
    """A new media account and its API key (an admin when asked)."""
    import uuid

    from shared.engine import identity

    roles = [identity.Role.ADMIN] if admin else None
    account = identity.create_account(
        email=f"arcade-{uuid.uuid4().hex[:12]}@example.com", roles=roles
    )
    return account.id, identity.create_api_key(account_id=account.id, site=identity.Site.MEDIA)


def new_slug() -> str:
    import uuid

    return f"game-{uuid.uuid4().hex[:10]}"


def create_game(base: str, key: str, **overrides: Any) -> dict[str, Any]:
    import httpx

    from tests.helpers import auth

    body = {
        "slug": new_slug(),
        "title": "Tiny Tomato",
        "shortDescription": "A tiny game",
        "description": "A tiny Godot game for tests.",
        "tags": ["Puzzle"],
        **overrides,
    }
    r = httpx.post(f"{base}/games", json=body, headers=auth(key), timeout=60)
    assert r.status_code == 201, r.text
    return r.json()["game"]


def upload(
    base: str,
    key: str,
    game_id: str,
    *,
    files: dict[str, bytes] = GODOT,
    zip_bytes: bytes | None = None,
    manifest_json: str | None = None,
    cover: bytes | None = None,
    extra: dict[str, str] | None = None,
) -> Any:
    import httpx

    from tests.helpers import auth

    parts: dict[str, Any] = {
        "bundle": (
            "game.zip",
            zip_bytes if zip_bytes is not None else godot_zip(files),
            "application/zip",
        )
    }
    if cover is not None:
        parts["coverImage"] = ("cover.png", cover, "image/png")
    data = {"gameId": game_id, "manifestJson": manifest_json or manifest(files), **(extra or {})}
    return httpx.post(
        f"{base}/releases/upload", data=data, files=parts, headers=auth(key), timeout=60
    )


def review(base: str, key: str, release_id: str, action: str, **fields: Any) -> Any:
    import httpx

    from tests.helpers import auth

    body = {"releaseId": release_id, "action": action, **fields}
    return httpx.patch(f"{base}/review/release", json=body, headers=auth(key), timeout=60)


def published_game(
    base: str,
    owner_key: str,
    admin_key: str,
    *,
    files: dict[str, bytes] = GODOT,
    channel: str = "live",
    **publish: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A game with one release published to `channel`: (game, release)."""
    game = create_game(base, owner_key)
    r = upload(base, owner_key, game["id"], files=files)
    assert r.status_code == 201, r.text
    release = r.json()["release"]
    for action in ("send_to_review", "approve"):
        assert review(base, admin_key, release["id"], action).status_code == 200
    r = review(base, admin_key, release["id"], "publish", channel=channel, **publish)
    assert r.status_code == 200, r.text
    return game, r.json()["release"]


def stored_objects(game_id: str) -> list[str]:
    from shared.engine import outputs

    return sorted(b.name for b in outputs.bucket().list_blobs(prefix=f"arcade/{game_id}/"))


def releases_of(game_id: str) -> list[Any]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from shared.engine.store import db
    from shared.media.arcade.releases import RELEASES

    return list(
        db().collection(RELEASES).where(filter=FieldFilter("game_id", "==", game_id)).stream()
    )


def png(size: int = 32) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def expect_error(r: Any, status: int, code: str) -> dict[str, Any]:
    """The error body of a refusal with this status and envelope code."""
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    return dict(r.json()["error"])
