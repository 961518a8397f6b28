"""The arcade release manifest (`manifestJson` on `POST /api/v1/arcade/releases/upload`).

The document leaves its shape open; Relay defines it as a JSON object with exactly these keys
(camelCase, no others, at any level):

    {"formatVersion": 1, "engine": "godot", "engineVersion": "4.3.0",
     "entry": "index.html",
     "files": [{"path": "index.html", "size": 5120, "sha256": "<64 lowercase hex>"}, ...],
     "title": "...", "description": "...", "orientation": "landscape"}

`title`, `description` and `orientation` (landscape | portrait | any) are optional. Invariants
kept by `parse_manifest`: the text is at most MAX_MANIFEST_BYTES of UTF-8 JSON with no
duplicate keys; every path passes `path_problem` (relative, `/`-separated, no `..`, no hidden
or empty segment, safe characters, an allowed extension); paths are unique ignoring case; the
entry is a listed `.html` file; at least one `.wasm` and one `.pck` are listed; files are at
most MAX_FILES. Any fault is `AppError(INVALID, "manifestJson.<path>: <reason>")`; nothing
else is raised for any client text.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from shared.engine.errors import AppError, ErrorKind
from shared.engine.validate import MAX_JSON_DEPTH, json_depth
from shared.media.arcade.headers import content_type

FORMAT_VERSION: Final = 1
MAX_MANIFEST_BYTES: Final = 256 * 1024
MAX_FILES: Final = 1000
MAX_PATH_CHARS: Final = 255
MAX_PATH_DEPTH: Final = 8

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_DRIVE = re.compile(r"[A-Za-z]:")


def path_problem(path: str, *, folder: bool = False) -> str | None:
    """Why `path` cannot name a release file (or a `folder`), or None. One rule for manifest
    and zip names."""
    if not path:
        return "is empty"
    if len(path) > MAX_PATH_CHARS:
        return f"is longer than {MAX_PATH_CHARS} characters"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "is absolute"
    if _DRIVE.match(path):
        return "starts with a drive letter"
    segments = path.split("/")
    if any(segment in ("..", ".") for segment in segments):
        return "contains a '.' or '..' segment (path traversal)"
    if any(not segment for segment in segments):
        return "contains an empty segment"
    if len(segments) > MAX_PATH_DEPTH:
        return f"is nested deeper than {MAX_PATH_DEPTH} levels"
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        return "may use only letters, digits, '.', '_' and '-', and no segment may start with '.'"
    if not folder and content_type(path) is None:
        return "has an extension a release cannot serve"
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel)


class ManifestFile(_Model):
    path: str
    size: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ReleaseManifest(_Model):
    format_version: Literal[1]
    engine: Literal["godot"]
    engine_version: Annotated[
        str, Field(pattern=r"^4\.[0-9]{1,3}(\.[0-9]{1,3})?(-[a-z0-9.]{1,20})?$")
    ]
    entry: str
    files: Annotated[list[ManifestFile], Field(min_length=1, max_length=MAX_FILES)]
    title: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None
    orientation: Literal["landscape", "portrait", "any"] | None = None

    @model_validator(mode="after")
    def _paths(self) -> ReleaseManifest:
        seen: set[str] = set()
        for index, item in enumerate(self.files):
            problem = path_problem(item.path)
            if problem:
                raise ValueError(f"files[{index}].path: {problem}")
            if item.path.casefold() in seen:
                raise ValueError(f"files[{index}].path: is listed twice")
            seen.add(item.path.casefold())
        paths = {item.path for item in self.files}
        if self.entry not in paths or not self.entry.lower().endswith(".html"):
            raise ValueError("entry: must be one of the listed files and end in .html")
        for extension in (".wasm", ".pck"):
            if not any(path.lower().endswith(extension) for path in paths):
                raise ValueError(f"files: must list at least one {extension} file")
        return self


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("an object repeats a key")
    return found


def _message(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    text = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        text = "is not a manifest key"
    elif error["type"] == "missing":
        text = "is required"
    return f"manifestJson{path}: {text}" if path else f"manifestJson.{text}"


def parse_manifest(text: str | bytes) -> ReleaseManifest:
    """The typed manifest, or AppError(INVALID) naming the field."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(raw) > MAX_MANIFEST_BYTES:
        raise AppError(
            ErrorKind.INVALID, f"manifestJson: is larger than {MAX_MANIFEST_BYTES} bytes"
        )
    try:
        decoded = raw.decode("utf-8")
        # Before the C decoder: a library may raise the recursion limit past the C stack
        # (py_ecc does), and then deep nesting crashes the process instead of raising.
        if json_depth(decoded) > MAX_JSON_DEPTH:
            raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels")
        data = json.loads(decoded, object_pairs_hook=_refuse_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AppError(ErrorKind.INVALID, f"manifestJson: is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AppError(ErrorKind.INVALID, "manifestJson: must be a JSON object")
    try:
        return ReleaseManifest.model_validate(data)
    except ValidationError as exc:
        raise AppError(ErrorKind.INVALID, _message(exc)) from None
