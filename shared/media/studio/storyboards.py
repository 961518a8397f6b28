"""Studio storyboards: the version 2 document, its create and patch bodies, legacy import and
Markdown export.

- A storyboard document is `{"version": 2, "scenes": [...]}`; a scene has an `id`, a `title`
  and `shots`; a shot has an `id`, a `prompt` and optional duration, camera, dialogue, notes
  and reference asset ids. Every string and list is bounded, ids are unique across the whole
  document and unknown keys are refused (INVALID naming the field). Its JSON is at most
  MAX_STORYBOARD_BYTES.
- A patch replaces the whole document (the seed makes `storyboard` required) and follows the
  text documents' revision rule (`documents.check_precondition`): revision + 1, or CONFLICT
  when stale, `current` untouched.
- `import_from_legacy_asset` reads a legacy asset's text: version 1 JSON (`frames`, grouped
  into scenes by their `scene` label), a version 2 document, or a plain-text outline
  (`# Scene` / `Scene N:` headings, one shot per other non-empty line). Anything else is
  INVALID; nothing it reads is trusted beyond the v2 model's bounds.
- `export_markdown` is deterministic (same document, same bytes) and backslash-escapes every
  Markdown-active character of user text, strips leading indentation and control characters,
  so no user text can open a heading, list, link, image, HTML tag or code block.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from shared.engine.errors import AppError, ErrorKind
from shared.engine.validate import MAX_JSON_DEPTH, DocId, json_depth
from shared.media.studio.documents import (
    Revision,
    Title,
    check_precondition,
    check_text_size,
    etag_for,
    validation_message,
)

MAX_STORYBOARD_BYTES: Final = 512 * 1024
MAX_SCENES: Final = 200
MAX_SHOTS_PER_SCENE: Final = 200
MAX_SHOTS: Final = 2_000
MAX_SHOT_SECONDS: Final = 600.0
DEFAULT_SCENE_TITLE: Final = "Scene"

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Line = Annotated[str, Field(max_length=200)]
Text = Annotated[str, Field(max_length=4_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel
    )


class Shot(_Strict):
    id: Id
    prompt: Text
    duration_seconds: Annotated[float, Field(gt=0, le=MAX_SHOT_SECONDS)] | None = None
    camera: Line | None = None
    dialogue: Text | None = None
    notes: Text | None = None
    reference_asset_ids: Annotated[list[DocId], Field(max_length=16)] = []


class Scene(_Strict):
    id: Id
    title: Line
    description: Text | None = None
    shots: Annotated[list[Shot], Field(max_length=MAX_SHOTS_PER_SCENE)] = []


class StoryboardDocument(_Strict):
    """The version 2 video storyboard document payload."""

    version: Literal[2] = 2
    logline: Text | None = None
    scenes: Annotated[list[Scene], Field(max_length=MAX_SCENES)] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> StoryboardDocument:
        seen: set[str] = set()
        shots = 0
        for scene in self.scenes:
            shots += len(scene.shots)
            for item_id in (scene.id, *(shot.id for shot in scene.shots)):
                if item_id in seen:
                    raise ValueError(f"id {item_id!r} is used twice")
                seen.add(item_id)
        if shots > MAX_SHOTS:
            raise ValueError(f"at most {MAX_SHOTS} shots in all")
        return self

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class StoryboardCreate(_Strict):
    """POST /api/v1/studio/assets/storyboards."""

    project_id: DocId
    title: Title
    storyboard: StoryboardDocument = StoryboardDocument()


class StoryboardPatch(_Strict):
    """PATCH /api/v1/studio/assets/storyboards/document: a whole-document replacement."""

    asset_id: DocId
    title: Title | None = None
    storyboard: StoryboardDocument
    revision: Revision | None = None


class Storyboard(BaseModel):
    """One stored version of a storyboard asset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_id: str
    project_id: str
    title: str
    storyboard: StoryboardDocument
    revision: int = 1

    @property
    def etag(self) -> str:
        return etag_for(self.revision)


_M = TypeVar("_M", bound=_Strict)


def _parse_model(model: type[_M], data: object) -> _M:
    if not isinstance(data, dict):
        raise AppError(ErrorKind.INVALID, "the body must be a JSON object")
    if "storyboard" in data:
        _check_size(data["storyboard"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AppError(ErrorKind.INVALID, validation_message(exc)) from None


def _check_size(document: object) -> None:
    try:
        encoded = json.dumps(document, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise AppError(ErrorKind.INVALID, "storyboard: must be a JSON object") from None
    check_text_size(encoded, field="storyboard", limit=MAX_STORYBOARD_BYTES)


def parse_create(data: object) -> StoryboardCreate:
    """The create body, or INVALID / TOO_LARGE naming the field."""
    return _parse_model(StoryboardCreate, data)


def parse_patch(data: object) -> StoryboardPatch:
    """The patch body, or INVALID / TOO_LARGE naming the field."""
    return _parse_model(StoryboardPatch, data)


def parse_document(data: object) -> StoryboardDocument:
    """A version 2 document on its own (INVALID paths start with `storyboard.`)."""
    if not isinstance(data, dict):
        raise AppError(ErrorKind.INVALID, "storyboard: must be a JSON object")
    _check_size(data)
    try:
        return StoryboardDocument.model_validate(data)
    except ValidationError as exc:
        raise AppError(ErrorKind.INVALID, f"storyboard.{validation_message(exc)}") from None


def new_storyboard(*, asset_id: str, body: StoryboardCreate) -> Storyboard:
    """Revision 1 of a new storyboard asset."""
    return Storyboard(
        asset_id=asset_id, project_id=body.project_id, title=body.title, storyboard=body.storyboard
    )


def apply_patch(
    current: Storyboard,
    patch: StoryboardPatch,
    *,
    expected_revision: int | None = None,
    if_match: str | None = None,
) -> Storyboard:
    """The next version (revision + 1) with the document replaced; CONFLICT when stale. A
    patch that changes nothing returns `current` as it is."""
    if patch.asset_id != current.asset_id:
        raise AppError(ErrorKind.INVALID, "assetId: does not name this storyboard")
    title = patch.title if patch.title is not None else current.title
    if title == current.title and patch.storyboard == current.storyboard:
        return current
    for revision in (patch.revision, expected_revision):
        check_precondition(
            current_revision=current.revision, expected_revision=revision, if_match=None
        )
    check_precondition(current_revision=current.revision, expected_revision=None, if_match=if_match)
    return current.model_copy(
        update={"title": title, "storyboard": patch.storyboard, "revision": current.revision + 1}
    )


# --- legacy import ---------------------------------------------------------------------------

_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*(?P<hash>.*?)|scene\s*\d*\s*[:.\-]\s*(?P<label>.*?))\s*$", re.I
)
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_LEGACY_FRAME_KEYS: Final = ("prompt", "description", "text")


def import_from_legacy_asset(source: str | bytes | dict[str, Any]) -> StoryboardDocument:
    """A version 2 document from a legacy asset's content; INVALID when it is none of the
    legacy shapes or yields no shot, TOO_LARGE over MAX_STORYBOARD_BYTES."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError:
            raise AppError(ErrorKind.INVALID, "source: must be UTF-8 text") from None
    if isinstance(source, str):
        check_text_size(source, field="source", limit=MAX_STORYBOARD_BYTES)
        stripped = source.strip()
        if stripped.startswith(("{", "[")):
            if json_depth(stripped) > MAX_JSON_DEPTH:
                raise AppError(ErrorKind.INVALID, "source: JSON nests too deeply")
            try:
                source = json.loads(stripped)
            except ValueError:
                raise AppError(ErrorKind.INVALID, "source: is not valid JSON") from None
        else:
            return _from_outline(source)
    if isinstance(source, dict) and source.get("version") == 2:
        return parse_document(source)
    if isinstance(source, dict) and isinstance(source.get("frames"), list):
        return _from_frames(source["frames"])
    if isinstance(source, list):
        return _from_frames(source)
    raise AppError(ErrorKind.INVALID, "source: is not a legacy storyboard (frames or outline)")


def _from_frames(frames: list[Any]) -> StoryboardDocument:
    scenes: list[dict[str, Any]] = []
    for index, frame in enumerate(frames):
        where = f"source.frames[{index}]"
        if not isinstance(frame, dict):
            raise AppError(ErrorKind.INVALID, f"{where}: must be an object")
        prompt = next((frame[k] for k in _LEGACY_FRAME_KEYS if isinstance(frame.get(k), str)), None)
        if prompt is None:
            raise AppError(ErrorKind.INVALID, f"{where}: needs a prompt, description or text")
        label = frame.get("scene")
        label = str(label) if isinstance(label, (str, int)) and label != "" else None
        if not scenes or (label is not None and scenes[-1]["title"] != label):
            scenes.append(_scene(len(scenes), label or f"{DEFAULT_SCENE_TITLE} 1"))
        shot: dict[str, Any] = {"prompt": prompt}
        duration = frame.get("duration", frame.get("durationSeconds"))
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            shot["durationSeconds"] = float(duration)
        for legacy, key in (("caption", "notes"), ("notes", "notes"), ("camera", "camera")):
            if isinstance(frame.get(legacy), str) and frame[legacy]:
                shot[key] = frame[legacy]
        _add_shot(scenes[-1], shot)
    return _finish(scenes)


def _from_outline(text: str) -> StoryboardDocument:
    scenes: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        heading = _HEADING.match(line)
        if heading:
            title = heading.group("hash") or heading.group("label") or ""
            scenes.append(_scene(len(scenes), title or f"{DEFAULT_SCENE_TITLE} {len(scenes) + 1}"))
            continue
        if not scenes:
            scenes.append(_scene(0, f"{DEFAULT_SCENE_TITLE} 1"))
        _add_shot(scenes[-1], {"prompt": _BULLET.sub("", line, count=1).strip()})
    return _finish(scenes)


def _scene(index: int, title: str) -> dict[str, Any]:
    return {"id": f"scene-{index + 1}", "title": title, "shots": []}


def _add_shot(scene: dict[str, Any], shot: dict[str, Any]) -> None:
    shot["id"] = f"{scene['id']}-shot-{len(scene['shots']) + 1}"
    scene["shots"].append(shot)


def _finish(scenes: list[dict[str, Any]]) -> StoryboardDocument:
    scenes = [scene for scene in scenes if scene["shots"]]
    if not scenes:
        raise AppError(ErrorKind.INVALID, "source: holds no storyboard shot")
    return parse_document({"version": 2, "scenes": scenes})


# --- Markdown export -------------------------------------------------------------------------

# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that can start
# or end an inline or block construct (GFM tables, strikethrough and autolinks included).
_MD_ACTIVE = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&=:@^$\"])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def escape_markdown(text: str) -> str:
    """User text as Markdown that renders literally: one paragraph per source paragraph, no
    indentation, every active character backslash-escaped."""
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [_MD_ACTIVE.sub(r"\\\1", line.strip()) for line in text.split("\n")]
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join("\\\n".join(p) for p in paragraphs if p)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def export_markdown(storyboard: StoryboardDocument, *, title: str) -> str:
    """The storyboard as Markdown: title, logline, then each scene and its numbered shots."""
    out = [f"# {escape_markdown(title)}", ""]
    if storyboard.logline:
        out += [f"_{escape_markdown(storyboard.logline)}_", ""]
    total = sum(shot.duration_seconds or 0 for scene in storyboard.scenes for shot in scene.shots)
    shots = sum(len(scene.shots) for scene in storyboard.scenes)
    out += [f"{len(storyboard.scenes)} scenes, {shots} shots, {_seconds(total)}", ""]
    for s_index, scene in enumerate(storyboard.scenes, start=1):
        out += [f"## Scene {s_index}: {escape_markdown(scene.title)}", ""]
        if scene.description:
            out += [escape_markdown(scene.description), ""]
        for t_index, shot in enumerate(scene.shots, start=1):
            heading = f"### Shot {s_index}.{t_index}"
            if shot.duration_seconds is not None:
                heading += f" ({_seconds(shot.duration_seconds)})"
            out += [heading, "", escape_markdown(shot.prompt) or "\\-", ""]
            for label, value in (
                ("Camera", shot.camera),
                ("Dialogue", shot.dialogue),
                ("Notes", shot.notes),
            ):
                if value:
                    out += [f"**{label}:** {escape_markdown(value)}", ""]
            if shot.reference_asset_ids:
                refs = ", ".join(f"`{_code(ref)}`" for ref in shot.reference_asset_ids)
                out += [f"**References:** {refs}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _code(value: str) -> str:
    # inside a code span nothing is escapable; a backtick would close it, so it goes
    return _CONTROL.sub(" ", value).replace("`", "'").replace("\n", " ")
