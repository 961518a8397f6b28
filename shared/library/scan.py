"""Index the model files under the models root into `library_models`.

A scan lists every object under the root (or one folder of it), groups each model file
(records.MODEL_EXTENSIONS) with its sidecars (`<stem>.civitai.info`, `<stem>.json`,
`<stem>.civitai.json`) and previews (`<stem>[.preview].png|jpg|jpeg|webp`), and writes
one record per model file through models_store.put_scanned. Invariants:
- Incremental: a model whose `fingerprint` (generation and size of the file, its sidecars
  and previews) equals the record's is skipped with no read past the listing.
- A model file is read by its header only (safetensors_header.read); a malformed header,
  sidecar or preview is a reported problem, never fatal: the file is still indexed with
  what could be read (size and format at least).
- Records under the scanned folder whose file is gone are removed.
- Never writes library_notes, library_images or a record's `user` edits.
- Progress and report live in `library_scans/<scanId>` (status queued / running / done,
  total, indexed, unchanged, removed, problems [{path, error}]).
"""

from __future__ import annotations

import logging
import posixpath
import secrets
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine import clock, queue
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.library import models_store, records, safetensors_header, scan_record, sidecars
from shared.library.storage import THUMBS, bucket
from shared.library.thumbs import inspect

log = logging.getLogger(__name__)

PREVIEW_SUFFIXES = tuple(
    f"{p}.{e}" for p in (".preview", "") for e in ("png", "jpg", "jpeg", "webp")
)
MAX_SIDECAR = 10 * 1024 * 1024  # bytes: a larger sidecar is reported, not read
MAX_PREVIEW = 50 * 1024 * 1024
MAX_PROBLEMS = 500  # kept in the report; `problemCount` counts them all
PROGRESS_EVERY = 25  # models between progress writes

Progress = Callable[[int, int], None]  # (models done, models total)


def scan_ref(scan_id: str) -> Any:
    return db().collection(records.SCANS).document(scan_id)


def new_scan_id() -> str:
    return f"{clock.now().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


def enqueue(*, under: str = "") -> str:
    """Queue a scan (a Cloud Task to task_library_scan); returns its scan id."""
    scan_id = new_scan_id()
    scan_ref(scan_id).set({"id": scan_id, "status": "queued", "under": under})
    queue.enqueue(queue.Target.SCAN, {"scanId": scan_id, "under": under}, name=scan_id)
    return scan_id


def _group(names: dict[str, Any], root: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """(path relative to root, model blob, {companion suffix: blob}) per model file."""
    models = []
    for name, blob in sorted(names.items()):
        rel = name[len(root) + 1 :]
        base, ext = posixpath.splitext(name)
        if not rel or ext.lower() not in records.MODEL_EXTENSIONS:
            continue
        companions = {
            s: names[base + s]
            for s in (sidecars.INFO_SUFFIX, *sidecars.MODEL_SUFFIXES, *PREVIEW_SUFFIXES)
            if base + s in names
        }
        models.append((rel, blob, companions))
    return models


def fingerprint(blob: Any, companions: dict[str, Any]) -> str:
    parts = [f"@{blob.generation}:{blob.size}"]
    parts += [f"{s}@{b.generation}:{b.size}" for s, b in sorted(companions.items())]
    return "|".join(parts)


def _read_sidecars(
    rel: str, companions: dict[str, Any], problems: list[dict[str, str]]
) -> sidecars.Facts | None:
    info = model = None
    for suffix in (sidecars.INFO_SUFFIX, *sidecars.MODEL_SUFFIXES):
        blob = companions.get(suffix)
        if blob is None or (model is not None and suffix != sidecars.INFO_SUFFIX):
            continue  # absent, or a second model JSON (.civitai.json wins over .json)
        where = posixpath.splitext(rel)[0] + suffix
        try:
            if (blob.size or 0) > MAX_SIDECAR:
                raise sidecars.SidecarError(f"sidecar is over {MAX_SIDECAR} bytes")
            raw = blob.download_as_bytes()
            if suffix == sidecars.INFO_SUFFIX:
                info = sidecars.parse_version_info(raw)
            else:
                model = sidecars.parse_model_json(raw)
        except sidecars.SidecarError as exc:
            problems.append({"path": where, "error": str(exc)})
    if info is None and model is None:
        return None
    return sidecars.merge(info, model, file_name=posixpath.basename(rel))


def _read_previews(
    rel: str, companions: dict[str, Any], problems: list[dict[str, str]]
) -> list[scan_record.Preview]:
    previews = []
    for suffix in PREVIEW_SUFFIXES:
        blob = companions.get(suffix)
        if blob is None:
            continue
        where = posixpath.splitext(rel)[0] + suffix
        if (blob.size or 0) > MAX_PREVIEW:
            problems.append({"path": where, "error": f"preview is over {MAX_PREVIEW} bytes"})
            continue
        try:
            picture = inspect(blob.download_as_bytes())
        except AppError as exc:  # not an image Pillow decodes
            problems.append({"path": where, "error": exc.message})
            continue
        image_id = records.derive_id("preview", where)
        thumb = f"{THUMBS}/scan-{image_id}.webp"
        bucket().blob(thumb).upload_from_string(picture.thumb_webp, content_type="image/webp")
        previews.append(
            scan_record.Preview(
                id=image_id,
                object=blob.name,
                thumb=thumb,
                width=picture.width,
                height=picture.height,
                blurhash=picture.blurhash,
            )
        )
    return previews


def index_file(
    rel: str,
    blob: Any,
    companions: dict[str, Any],
    *,
    fingerprint_: str,
    problems: list[dict[str, str]],
) -> int:
    """Read one model file (header, sidecars, previews) and write its record. The file's
    problems are added to `problems` and kept in the record, so a later scan that skips the
    unchanged file still reports them."""
    size = int(blob.size or 0)
    header = None
    found: list[dict[str, str]] = []
    if records.FORMATS.get(posixpath.splitext(rel)[1].lower()) == "SafeTensor":
        try:
            header = safetensors_header.read(blob, file_size=size)
        except safetensors_header.HeaderError as exc:
            found.append({"path": rel, "error": str(exc)})
    facts = _read_sidecars(rel, companions, found)
    previews = _read_previews(rel, companions, found)
    scan = scan_record.build(
        path=rel, size=size, header=header, facts=facts, previews=previews, fingerprint=fingerprint_
    )
    scan["problems"] = found
    problems.extend(found)
    return models_store.put_scanned(path=rel, scan=scan, added_at=blob.time_created or clock.now())


def _known(under: str) -> dict[str, tuple[str | None, list[dict[str, str]]]]:
    """path -> (fingerprint, the file's problems) of the records under `under` (all when
    empty)."""
    query = db().collection(records.MODELS)
    if under:
        query = query.where(filter=FieldFilter("path", ">=", under + "/")).where(
            filter=FieldFilter("path", "<", under + "/\uffff")
        )
    out = {}
    for snap in query.select(["path", "scan.fingerprint", "scan.problems"]).stream():
        doc = snap.to_dict()
        scanned = doc.get("scan") or {}
        out[doc["path"]] = (scanned.get("fingerprint"), list(scanned.get("problems") or []))
    return out


def run(
    *, under: str = "", scan_id: str | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Scan the models root (or its folder `under`); returns the report."""
    scan_id = scan_id or new_scan_id()
    under = under.strip("/")
    root = records.models_root()
    if under and records.inside_root(under) is None:
        raise AppError(ErrorKind.INVALID, "The folder to scan must be inside the models root")
    prefix = f"{root}/{under}/" if under else f"{root}/"
    report: dict[str, Any] = {"id": scan_id, "under": under, "status": "running"}
    report.update(started_at=clock.now(), total=0, indexed=0, unchanged=0, removed=0)
    problems: list[dict[str, str]] = []
    scan_ref(scan_id).set({**report, "problems": [], "problemCount": 0})
    names = {b.name: b for b in bucket().list_blobs(prefix=prefix)}
    models = _group(names, root)
    known = _known(under)
    report["total"] = len(models)
    for done, (rel, blob, companions) in enumerate(models, start=1):
        fingerprint_ = fingerprint(blob, companions)
        fingerprint_known, problems_known = known.get(rel, (None, []))
        if fingerprint_known == fingerprint_:
            report["unchanged"] += 1
            problems.extend(problems_known)  # still there: reported again
        else:
            try:
                index_file(rel, blob, companions, fingerprint_=fingerprint_, problems=problems)
                report["indexed"] += 1
            except gexc.GoogleAPICallError as exc:  # the file went away or storage failed
                log.warning("library scan: %s not indexed: %s", rel, exc)
                problems.append({"path": rel, "error": f"not indexed: {exc.message}"})
        if progress:
            progress(done, len(models))
        if done % PROGRESS_EVERY == 0:
            scan_ref(scan_id).update({k: report[k] for k in ("total", "indexed", "unchanged")})
    present = {rel for rel, _, _ in models}
    for path in set(known) - present:
        models_store.remove(records.model_id(path))
        report["removed"] += 1
    report.update(status="done", finished_at=clock.now(), problemCount=len(problems))
    report["problems"] = problems[:MAX_PROBLEMS]
    scan_ref(scan_id).set(report)
    return report


def run_task(*, scan_id: str, under: str) -> dict[str, Any]:
    """A queued scan's task: runs it, unless a redelivery finds it already done."""
    snap = scan_ref(scan_id).get()
    if snap.exists and snap.get("status") == "done":
        return snap.to_dict()  # type: ignore[no-any-return]
    return run(under=under, scan_id=scan_id)


def public(report: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON (timestamps as ISO strings)."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in report.items()}
