"""The arcade release bundle: hostile zips and manifests are refused before anything is stored."""

from __future__ import annotations

import hashlib
import json
import stat
import tracemalloc
import zipfile
import zlib
from typing import Any

import pytest

from shared.engine.errors import AppError, ErrorKind
from shared.media.arcade.bundle import MAX_ENTRIES, MAX_FILE_BYTES, MIB, validate_bundle
from shared.media.arcade.headers import serving_headers
from shared.media.arcade.manifest import parse_manifest
from tests.arcade_helpers import GODOT, godot_entries, godot_zip, manifest, raw_zip, zeros_deflated


def refused(zip_bytes: bytes, manifest_json: str, kind: ErrorKind = ErrorKind.INVALID) -> str:
    with pytest.raises(AppError) as caught:
        validate_bundle(zip_bytes, manifest_json)
    assert caught.value.kind == kind, caught.value
    return caught.value.message


def test_tiny_godot_export_passes_with_hashes_types_and_contents() -> None:
    bundle = validate_bundle(godot_zip(GODOT, folders=("assets/",)), manifest(GODOT))
    assert [item.path for item in bundle.files] == list(GODOT)
    types = {item.path: item.content_type for item in bundle.files}
    assert types["index.wasm"] == "application/wasm"
    assert types["index.pck"] == "application/octet-stream"
    assert types["index.html"].startswith("text/html")
    assert types["index.js"].startswith("text/javascript")
    assert types["index.png"] == "image/png"
    assert bundle.total_bytes == sum(len(data) for data in GODOT.values())
    assert {item.path: data for item, data in bundle.contents()} == GODOT
    assert bundle.files[0].sha256 == hashlib.sha256(GODOT["index.html"]).hexdigest()
    assert bundle.manifest.engine_version == "4.3.0-stable"


def test_nested_files_pass() -> None:
    files = {**GODOT, "assets/levels/one.json": b"{}"}
    bundle = validate_bundle(godot_zip(files), manifest(files))
    assert "assets/levels/one.json" in {item.path for item in bundle.files}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x.js", "traversal"),
        ("/etc/x.js", "absolute"),
        ("a/../../x.js", "traversal"),
        ("C:\\x.js", "backslash"),
        ("C:/x.js", "drive letter"),
        ("a/./x.js", "traversal"),
        ("a//x.js", "empty segment"),
        (".hidden.js", "start with '.'"),
        ("x.exe", "extension"),
        ("a b.js", "letters, digits"),
    ],
)
def test_hostile_names_are_refused(name: str, reason: str) -> None:
    message = refused(raw_zip([*godot_entries(), {"name": name, "data": b"x"}]), manifest(GODOT))
    assert name in message or repr(name) in message
    assert reason in message


def test_hostile_name_in_the_manifest_is_refused() -> None:
    files = {**GODOT, "../evil.js": b"x"}
    message = refused(godot_zip(GODOT), manifest(files))
    assert message.startswith("manifestJson.files[6].path:") and "traversal" in message


def test_symlink_entry_is_refused() -> None:
    link = {"name": "link.js", "data": b"/etc/passwd", "attr": stat.S_IFLNK | 0o777}
    assert "symbolic link" in refused(raw_zip([*godot_entries(), link]), manifest(GODOT))


def test_special_file_entry_is_refused() -> None:
    fifo = {"name": "pipe.js", "attr": stat.S_IFIFO | 0o644}
    assert "not a regular file" in refused(raw_zip([*godot_entries(), fifo]), manifest(GODOT))


def test_encrypted_entry_is_refused() -> None:
    entries = godot_entries()
    entries[3]["flags"] = 0x1
    assert "encrypted" in refused(raw_zip(entries), manifest(GODOT))


def test_gigabyte_bomb_is_refused_from_the_central_directory_before_inflating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream, crc = zeros_deflated(1024)
    assert len(stream) < 2 * MIB
    bomb = {"name": "index.pck", "data": stream, "method": 8, "crc": crc, "size": 1024 * MIB}
    files = {**GODOT, "index.pck": b""}
    entries = [*godot_entries({k: v for k, v in GODOT.items() if k != "index.pck"}), bomb]

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bomb must be refused before any entry is opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", never)
    assert "zip bomb" in refused(raw_zip(entries), manifest(files))


def test_bomb_with_lying_sizes_stops_at_the_declared_size_in_little_memory() -> None:
    stream, _ = zeros_deflated(1024)
    declared = bytes(4096)
    lying = {
        "name": "index.pck",
        "data": stream,
        "method": 8,
        "crc": zlib.crc32(b"GDPC"),
        "size": len(declared),
    }
    files = {**GODOT, "index.pck": declared}
    entries = [*godot_entries({k: v for k, v in GODOT.items() if k != "index.pck"}), lying]
    tracemalloc.start()
    try:
        message = refused(raw_zip(entries), manifest(files))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "'index.pck'" in message
    assert peak < 32 * MIB


def test_many_small_entries_that_expand_too_much_together_are_refused() -> None:
    files = {**GODOT, **{f"data/part{n}.json": bytes(MIB) for n in range(40)}}
    assert "overall" in refused(godot_zip(files), manifest(files))


def test_overlapping_entries_are_refused() -> None:
    entries = godot_entries()
    entries[5]["compress_size"] = 10 * MIB
    assert "overlap" in refused(raw_zip(entries), manifest(GODOT))


def test_file_over_the_cap_is_too_large() -> None:
    entries = godot_entries()
    entries[3].update(size=MAX_FILE_BYTES + 1, compress_size=MAX_FILE_BYTES)
    message = refused(raw_zip(entries), manifest(GODOT), ErrorKind.TOO_LARGE)
    assert "'index.pck'" in message


@pytest.mark.parametrize("missing", ["index.pck", "index.wasm", "index.html"])
def test_export_missing_a_godot_part_is_refused(missing: str) -> None:
    files = {path: data for path, data in GODOT.items() if path != missing}
    assert "manifestJson" in refused(godot_zip(files), manifest(files))
    message = refused(godot_zip(files), manifest(GODOT))
    assert f"'{missing}' is listed in the manifest but not in the zip" in message


def test_wrong_hash_is_refused() -> None:
    body = json.loads(manifest(GODOT))
    body["files"][2]["sha256"] = "0" * 64
    assert "'index.wasm' does not match" in refused(godot_zip(GODOT), json.dumps(body))


def test_wrong_size_is_refused() -> None:
    body = json.loads(manifest(GODOT))
    body["files"][3]["size"] += 1
    assert "manifest says" in refused(godot_zip(GODOT), json.dumps(body))


def test_extra_file_not_in_the_manifest_is_refused() -> None:
    files = {**GODOT, "cheat.js": b"1"}
    assert "'cheat.js' is in the zip but not listed" in refused(godot_zip(files), manifest(GODOT))


def test_names_equal_ignoring_case_are_refused() -> None:
    entries = [*godot_entries(), {"name": "INDEX.js", "data": b"1"}]
    assert "appears twice" in refused(raw_zip(entries), manifest(GODOT))


def test_file_used_as_a_folder_is_refused() -> None:
    entries = [*godot_entries(), {"name": "index.js/x.js", "data": b"1"}]
    assert "under a name that is a file" in refused(raw_zip(entries), manifest(GODOT))


def test_bzip2_entry_is_refused() -> None:
    entries = godot_entries()
    entries[1]["method"] = 12
    assert "compression method" in refused(raw_zip(entries), manifest(GODOT))


def test_too_many_entries_are_refused() -> None:
    entries = [{"name": f"f{n}.js"} for n in range(MAX_ENTRIES + 1)]
    assert "more than" in refused(raw_zip(entries), manifest(GODOT))


def test_zip64_archive_is_refused() -> None:
    data = bytearray(godot_zip(GODOT))
    at = data.rfind(b"PK\x05\x06")
    data[at + 10 : at + 12] = b"\xff\xff"
    assert "ZIP64" in refused(bytes(data), manifest(GODOT))


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x05\x06" + b"\x00" * 18, bytes(1000)])
def test_not_a_zip_is_refused(data: bytes) -> None:
    assert refused(data, manifest(GODOT)).startswith("bundle:")


def test_truncated_or_corrupted_zips_raise_only_app_errors() -> None:
    good = godot_zip(GODOT)
    variants = [good[:cut] for cut in range(0, len(good), 97)]
    for at in range(0, len(good), 53):
        corrupt = bytearray(good)
        corrupt[at] ^= 0xFF
        variants.append(bytes(corrupt))
    outcomes = set()
    for variant in variants:
        try:
            validate_bundle(variant, manifest(GODOT))
            outcomes.add("ok")
        except AppError as exc:
            outcomes.add(exc.kind)
    assert ErrorKind.INVALID in outcomes and outcomes <= {"ok", ErrorKind.INVALID}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "manifestJson: is not valid JSON"),
        ("[]", "manifestJson: must be a JSON object"),
        (manifest(GODOT, extra=1), "manifestJson.extra: is not a manifest key"),
        (manifest(GODOT, formatVersion=2), "manifestJson.formatVersion"),
        (manifest(GODOT, engine="unity"), "manifestJson.engine"),
        (manifest(GODOT, engineVersion="3.5"), "manifestJson.engineVersion"),
        (manifest(GODOT, entry="index.js"), "manifestJson.entry"),
        (manifest(GODOT, entry="other.html"), "manifestJson.entry"),
        (manifest(GODOT, files=[]), "manifestJson.files"),
        (manifest(GODOT, orientation="diagonal"), "manifestJson.orientation"),
        ('{"formatVersion": 1, "formatVersion": 1}', "repeats a key"),
        ("[" * 100000, "manifestJson: is not valid JSON"),
    ],
)
def test_bad_manifests_are_refused_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(AppError) as caught:
        parse_manifest(text)
    assert caught.value.kind == ErrorKind.INVALID
    assert expected in caught.value.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"extra": 1}, "manifestJson.files[0].extra: is not a manifest key"),
        ({"sha256": "ABC"}, "manifestJson.files[0].sha256"),
        ({"size": -1}, "manifestJson.files[0].size"),
        ({"size": "12"}, "manifestJson.files[0].size"),
    ],
)
def test_bad_manifest_file_entries_are_refused(change: dict[str, Any], expected: str) -> None:
    body = json.loads(manifest(GODOT))
    body["files"][0].update(change)
    with pytest.raises(AppError) as caught:
        parse_manifest(json.dumps(body))
    assert expected in caught.value.message


def test_manifest_listing_a_path_twice_ignoring_case_is_refused() -> None:
    body = json.loads(manifest(GODOT))
    body["files"].append({**body["files"][1], "path": "INDEX.js"})
    with pytest.raises(AppError) as caught:
        parse_manifest(json.dumps(body))
    assert "files[6].path: is listed twice" in caught.value.message


def test_serving_headers_isolate_the_game() -> None:
    headers = serving_headers("index.wasm")
    assert headers["Content-Type"] == "application/wasm"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert headers["X-Content-Type-Options"] == "nosniff"
    with pytest.raises(KeyError):
        serving_headers("x.exe")
