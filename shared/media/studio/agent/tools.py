"""The agent's tools: their JSON schemas (what the model is offered) and executors.

Invariants:
- The tools are the studio's own operations: text documents and storyboards are created
  through `studio.assets` (the same validation as the HTTP routes), assets are listed from
  the project, and a media job's output is attached through `assets.store_file`.
- `submit_media_job` is offered only while planning (prepare): its calls become an
  approval plan and are never executed by the loop, so nothing paid runs without an
  approved plan. `RUN_TOOLS` (what the loop offers) does not contain it.
- A job's output is attached once per (job, output index): an asset whose source names
  them is reused, never duplicated (the loop is the only writer, under its lease).
- Every executor acts for the request's account and project only; a bad argument is an
  AppError whose message goes back to the model as the tool's result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import ValidationError

from shared.engine import jobs, outputs
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import Site
from shared.engine.store import db
from shared.media.jobs.request import TASKS
from shared.media.studio import assets, documents, listing, storyboards
from shared.media.studio.models import ASSETS, Asset, AssetKind

SUBMIT_MEDIA_JOB: Final = "submit_media_job"
MAX_LISTED: Final = 50


@dataclass(frozen=True)
class ToolContext:
    account_id: str
    project_id: str


def _function(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_TITLE = {"type": "string", "minLength": 1, "maxLength": documents.MAX_TITLE_CHARS}
SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    SUBMIT_MEDIA_JOB: _function(
        SUBMIT_MEDIA_JOB,
        "Generate media (images, video, audio, 3D) as a paid job. The body is a Killa Tamata "
        "MediaJobRequest: the task and that task's input object. The user approves the "
        "estimated cost before it runs; its output is added to the project's assets.",
        {"task": {"type": "string", "enum": list(TASKS)}, "input": {"type": "object"}},
        ["task", "input"],
    ),
    "create_text_document": _function(
        "create_text_document",
        "Create a text document asset in the current project.",
        {"title": _TITLE, "content": {"type": "string"}},
        ["title", "content"],
    ),
    "create_storyboard": _function(
        "create_storyboard",
        "Create a storyboard asset in the current project (scenes of shots).",
        {"title": _TITLE, "storyboard": {"type": "object"}},
        ["title"],
    ),
    "list_assets": _function(
        "list_assets", "List the current project's assets (newest first).", {}, []
    ),
    "attach_job_output": _function(
        "attach_job_output",
        "Add a completed media job's output to the current project's assets.",
        {"jobId": {"type": "string"}},
        ["jobId"],
    ),
}
PLAN_TOOLS: Final = tuple(SCHEMAS.values())
RUN_TOOLS: Final = tuple(s for name, s in SCHEMAS.items() if name != SUBMIT_MEDIA_JOB)


def _asset_view(asset: Asset) -> dict[str, Any]:
    return {
        "assetId": asset.id,
        "title": asset.title,
        "kind": asset.kind.value,
        "mimeType": asset.mime_type,
    }


def _invalid(exc: ValidationError) -> AppError:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "arguments"
    return AppError(ErrorKind.INVALID, f"{where}: {first.get('msg', 'invalid')}")


def create_text_document(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    try:
        body = documents.TextDocumentCreate.model_validate(
            {
                "projectId": ctx.project_id,
                "title": args.get("title"),
                "content": args.get("content"),
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    source = {"type": "agent"}
    asset, _ = assets.create_text(account_id=ctx.account_id, body=body, source=source)
    return _asset_view(asset)


def create_storyboard(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"projectId": ctx.project_id, "title": args.get("title")}
    if args.get("storyboard") is not None:
        data["storyboard"] = args["storyboard"]
    try:
        body = storyboards.StoryboardCreate.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    asset, _ = assets.create_storyboard(
        account_id=ctx.account_id, body=body, source={"type": "agent"}
    )
    return _asset_view(asset)


def list_assets(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """The project's newest active assets: the asset browser's own list, first page."""
    page = listing.list_assets(
        account_id=ctx.account_id, project_id=ctx.project_id, limit=MAX_LISTED
    )
    return {"assets": [_asset_view(a) for a in page.assets]}


def _media_job(ctx: ToolContext, raw_id: object) -> jobs.JobRecord:
    try:
        job_id = str(uuid.UUID(str(raw_id)))
    except ValueError:
        raise AppError(ErrorKind.NOT_FOUND, "jobId: media job not found") from None
    job = jobs.find(job_id)
    if job is None or job.site != Site.MEDIA or job.account_id != ctx.account_id:
        raise AppError(ErrorKind.NOT_FOUND, "jobId: media job not found")
    return job


def _attached(ctx: ToolContext, job_id: str) -> dict[int, Asset]:
    query = (
        db()
        .collection(ASSETS)
        .where(filter=FieldFilter("account_id", "==", ctx.account_id))
        .where(filter=FieldFilter("source.jobId", "==", job_id))
    )
    found = [Asset(id=s.id, **s.to_dict()) for s in query.stream()]
    return {
        int(a.source.get("outputIndex") or 0): a for a in found if a.project_id == ctx.project_id
    }


def attach_job_output(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    job = _media_job(ctx, args.get("jobId"))
    if job.state is not jobs.JobState.COMPLETED or not job.outputs:
        raise AppError(ErrorKind.CONFLICT, f"jobId: media job is {job.state.value}, not completed")
    done = _attached(ctx, job.id)
    content_type = (job.input.get("output") or {}).get("contentType") or "application/octet-stream"
    task = str(job.site_fields.get("task") or "media")
    attached = []
    for index, path in enumerate(job.outputs):
        if index not in done:
            extension = path.rsplit(".", 1)[-1] if "." in path else "bin"
            filename = f"{task.replace('.', '-')}-{job.id[:8]}-{index}.{extension}"
            done[index] = assets.store_file(
                account_id=ctx.account_id,
                project_id=ctx.project_id,
                filename=filename,
                data=outputs.read_output(path),
                mime_type=content_type,
                kind=AssetKind.MEDIA,
                title=f"{task} {job.id[:8]}",
                source={"type": "media_job", "jobId": job.id, "outputIndex": index},
            )
        attached.append(_asset_view(done[index]))
    return {"jobId": job.id, "assets": attached}


EXECUTORS: Final = {
    "create_text_document": create_text_document,
    "create_storyboard": create_storyboard,
    "list_assets": list_assets,
    "attach_job_output": attach_job_output,
}


def execute(ctx: ToolContext, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one of the loop's tools; an unknown (or planning-only) tool is INVALID."""
    executor = EXECUTORS.get(name)
    if executor is None:
        raise AppError(ErrorKind.INVALID, f"tool {name!r} is not available here")
    return executor(ctx, args)
