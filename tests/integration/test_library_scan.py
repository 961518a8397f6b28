"""The library scan against the real Storage and Firestore emulators: every test scans its
own folder of the models root (a uuid, which is then the records' category)."""

from __future__ import annotations

import time
import uuid

import httpx

from shared.engine import clock
from shared.engine.store import db
from shared.library import fixtures, models_store, notes, records, scan
from shared.library.storage import bucket
from tests.helpers import task_headers


def _folder() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def _upload(rel: str, data: bytes) -> None:
    bucket().blob(f"{records.models_root()}/{rel}").upload_from_string(data)


def test_scan_indexes_header_sidecars_and_previews(stack) -> None:
    folder = _folder()
    paths = fixtures.upload(count=5, seed=1, folder=folder)
    report = scan.run(under=folder)
    assert (report["total"], report["indexed"], report["status"]) == (7, 7, "done")
    spec = fixtures.specs(count=5, seed=1)[0]  # both sidecars and a .preview.png
    doc = models_store.get(records.model_id(f"{folder}/{spec.path}"))
    assert spec.model_json and spec.info
    assert (doc["name"], doc["type"], doc["baseModel"]) == (
        spec.model_json["name"],
        "Checkpoint",
        "SDXL 1.0",
    )
    assert (doc["category"], doc["subcategory"]) == (folder, "Checkpoint")
    assert doc["creatorName"] == spec.model_json["creator"]["username"]
    assert doc["tags"] == spec.model_json["tags"]
    assert doc["stats"] == spec.model_json["stats"]
    assert doc["nsfwLevel"] == spec.model_json["nsfwLevel"]
    assert doc["hasMetadata"] is True
    assert doc["trainedWords"] == spec.info["trainedWords"]
    assert doc["scan"]["precision"] == "fp16"
    assert doc["scan"]["headerMetadata"] == spec.metadata
    local, other = doc["versions"]
    assert (local["id"], local["isLocal"], other["isLocal"]) == (spec.info["id"], True, False)
    assert local["files"][0]["fileName"] == spec.path.rsplit("/", 1)[1]
    image = local["images"][0]
    assert (image["width"], image["height"], image["isUserUpload"]) == (64, 64, False)
    assert image["prompt"] == spec.info["images"][0]["meta"]["prompt"]
    assert image["blurhash"] and doc["heroImage"]["blurhash"] == image["blurhash"]
    thumb = image["thumbPath"].removeprefix("/files/")
    assert bucket().blob(thumb).exists()
    assert len(paths) == 7


def test_malformed_header_and_sidecar_are_reported_and_still_indexed(stack) -> None:
    folder = _folder()
    fixtures.upload(count=1, seed=2, folder=folder)
    report = scan.run(under=folder)
    problems = {p["path"]: p["error"] for p in report["problems"]}
    bad_header, bad_sidecar = (f"{folder}/{m}" for m in fixtures.MALFORMED)
    assert "exceeds" in problems[bad_header]
    assert "not JSON" in problems[bad_sidecar]
    broken = models_store.get(records.model_id(bad_header))
    assert (broken["scan"]["precision"], broken["fileSize"]) == (None, 8 + 2 + 32)
    lora_path = bad_sidecar.replace(".civitai.info", ".safetensors")
    lora = models_store.get(records.model_id(lora_path))
    assert (lora["hasMetadata"], lora["type"]) == (False, "LORA")
    stored = scan_ref_doc(report["id"])
    assert stored["status"] == "done" and stored["problemCount"] == len(report["problems"])
    # A rescan skips the unchanged broken files and still reports what is wrong with them.
    again = scan.run(under=folder)
    assert again["indexed"] == 0

    def pairs(found: list[dict]) -> list[tuple[str, str]]:
        return sorted((p["path"], p["error"]) for p in found)

    assert pairs(again["problems"]) == pairs(report["problems"]) != []


def scan_ref_doc(scan_id: str) -> dict:
    return scan.scan_ref(scan_id).get().to_dict()


def test_header_is_read_by_range_so_garbage_tensor_data_never_matters(stack) -> None:
    folder = _folder()
    good = fixtures.tensor_file("lora", "F16", (("ss_network_dim", "16"),))
    length = int.from_bytes(good[:8], "little")
    # The header promises tiny tensors; the data region is 4 MB of bytes nobody parses.
    _upload(f"{folder}/LoRA/big.safetensors", good[: 8 + length] + b"\xff" * (4 << 20))
    report = scan.run(under=folder)
    assert (report["indexed"], report["problems"]) == (1, [])
    doc = models_store.get(records.model_id(f"{folder}/LoRA/big.safetensors"))
    assert doc["scan"]["headerMetadata"] == {"ss_network_dim": "16"}
    assert doc["fileSize"] == 8 + length + (4 << 20)
    assert doc["type"] == "LORA" and doc["category"] == folder


def test_rescan_is_incremental_removes_gone_files_and_keeps_notes_and_images(stack) -> None:
    folder = _folder()
    fixtures.upload(count=4, seed=5, folder=folder, broken=False)
    first = scan.run(under=folder)
    specs = fixtures.specs(count=4, seed=5)
    ids = [records.model_id(f"{folder}/{s.path}") for s in specs]
    notes.put(ids[0], "my notes")
    image = {"id": 42, "modelId": ids[0], "object": "uploads/x.png", "thumb": "thumbs/x.webp"}
    image.update(width=1, height=1, createdAt=clock.now())
    db().collection(records.IMAGES).document(f"{folder}-img").set(image)
    models_store.edit(ids[0], {"name": "My Name"})

    second = scan.run(under=folder)
    assert (first["indexed"], second["unchanged"], second["indexed"]) == (4, 4, 0)

    stem = f"{folder}/{specs[0].path[: -len('.safetensors')]}"
    _upload(stem + ".json", b'{"name": "Renamed upstream", "tags": ["fresh"]}')
    bucket().blob(f"{records.models_root()}/{folder}/{specs[1].path}").delete()
    third = scan.run(under=folder)
    assert (third["indexed"], third["unchanged"], third["removed"]) == (1, 2, 1)
    kept = models_store.get(ids[0])
    assert (kept["name"], kept["scan"]["name"], kept["tags"]) == (
        "My Name",
        "Renamed upstream",
        ["fresh"],
    )
    assert notes.get(ids[0]) == "my notes"
    assert db().collection(records.IMAGES).document(f"{folder}-img").get().to_dict() == image
    assert not models_store.ref(ids[1]).get().exists


def test_scan_task_target_runs_a_queued_scan(stack) -> None:
    folder = _folder()
    fixtures.upload(count=2, seed=7, folder=folder, broken=False)
    scan_id = scan.enqueue(under=folder)
    deadline = time.monotonic() + 60
    while scan_ref_doc(scan_id).get("status") != "done" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert scan_ref_doc(scan_id)["indexed"] == 2
    # A redelivery of the same task finds the scan done and scans nothing again.
    url = f"http://127.0.0.1:{stack.ports['functions']}/task_library_scan"
    headers = task_headers("task_library_scan")
    again = httpx.post(url, json={"scanId": scan_id, "under": folder}, headers=headers, timeout=60)
    assert again.status_code == 200 and again.json()["indexed"] == 2
    denied = httpx.post(url, json={"scanId": "x", "under": folder}, timeout=30)
    assert denied.status_code == 401
