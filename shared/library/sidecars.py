"""Civitai sidecars next to a model file, read leniently.

- `<stem>.civitai.info`: a Civitai model-version JSON (id, modelId, name, baseModel,
  description, trainedWords, stats, publishedAt, files[], images[], model{name, type, nsfw,
  tags}, creator).
- `<stem>.json` / `<stem>.civitai.json`: a Civitai model JSON (id, name, type, description,
  nsfwLevel, tags, creator{username, image}, stats, modelVersions[...]).

Unknown fields are ignored and every field is optional; a file that is not JSON, not an
object, or has a field of the wrong kind raises `SidecarError` (the scan reports it and
indexes the model file without that sidecar). `merge` combines what both say: the model
JSON wins for model-level facts, the version info for the local version's facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from shared.library.records import NSFW_MAX

INFO_SUFFIX = ".civitai.info"
MODEL_SUFFIXES = (".civitai.json", ".json")
STAT_FIELDS = (
    "downloadCount",
    "thumbsUpCount",
    "thumbsDownCount",
    "commentCount",
    "tippedAmountCount",
)
LICENSE_FIELDS = (
    "allowNoCredit",
    "allowCommercialUse",
    "allowDerivatives",
    "allowDifferentLicense",
)


class SidecarError(ValueError):
    """A sidecar that cannot be read (the message says why)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Creator(_Lenient):
    username: str | None = None
    image: str | None = None


class FileMeta(_Lenient):
    format: str | None = None
    fp: str | None = None


class CivitaiFile(_Lenient):
    id: int | None = None
    name: str | None = None
    sizeKB: float | None = None
    metadata: FileMeta | None = None


class CivitaiImage(_Lenient):
    id: int | None = None
    url: str | None = None
    nsfwLevel: int | None = None
    width: int | None = None
    height: int | None = None
    meta: dict[str, Any] | None = None


def _tag_names(value: Any) -> Any:
    """Tags come as strings or as {"name": ...} objects."""
    if isinstance(value, list):
        return [t.get("name") if isinstance(t, dict) else t for t in value]
    return value


class VersionModel(_Lenient):
    name: str | None = None
    type: str | None = None
    nsfw: bool | None = None
    tags: list[str] = []

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return _tag_names(value) or []


class CivitaiVersion(_Lenient):
    id: int | None = None
    modelId: int | None = None
    name: str | None = None
    baseModel: str | None = None
    description: str | None = None
    trainedWords: list[str] = []
    stats: dict[str, float | int | None] = {}
    publishedAt: str | None = None
    files: list[CivitaiFile] = []
    images: list[CivitaiImage] = []
    model: VersionModel | None = None
    creator: Creator | None = None


class CivitaiModel(_Lenient):
    id: int | None = None
    name: str | None = None
    type: str | None = None
    description: str | None = None
    nsfwLevel: int | None = None
    tags: list[str] = []
    creator: Creator | None = None
    stats: dict[str, float | int | None] = {}
    modelVersions: list[CivitaiVersion] = []
    allowNoCredit: bool | None = None
    allowCommercialUse: Any = None
    allowDerivatives: bool | None = None
    allowDifferentLicense: bool | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return _tag_names(value) or []


def _load(raw: bytes, model: type[BaseModel], what: str) -> Any:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SidecarError(f"{what} is not a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SidecarError(f"{what}: {where}: {first['msg']}") from exc


def parse_version_info(raw: bytes) -> CivitaiVersion:
    return _load(raw, CivitaiVersion, "civitai.info")  # type: ignore[no-any-return]


def parse_model_json(raw: bytes) -> CivitaiModel:
    return _load(raw, CivitaiModel, "model JSON")  # type: ignore[no-any-return]


def stats(raw: dict[str, Any] | None) -> dict[str, int]:
    """The five documented counters as ints (0 when absent or not a number)."""
    out = {}
    for name in STAT_FIELDS:
        value = (raw or {}).get(name)
        out[name] = int(value) if isinstance(value, int | float) and value >= 0 else 0
    return out


def nsfw_level(value: int | None) -> int:
    return max(0, min(NSFW_MAX, value or 0))


@dataclass
class Facts:
    """What the sidecars say about one model file (None / empty where they are silent)."""

    name: str | None = None
    type: str | None = None
    description: str | None = None
    baseModel: str | None = None
    nsfwLevel: int | None = None
    creatorName: str | None = None
    creatorAvatar: str | None = None
    tags: list[str] = field(default_factory=list)
    stats: dict[str, int] | None = None
    trainedWords: list[str] = field(default_factory=list)
    licensingInfo: dict[str, Any] = field(default_factory=dict)
    local: CivitaiVersion | None = None  # the version this file is
    others: list[CivitaiVersion] = field(default_factory=list)  # the model's other versions


def _local_version(model: CivitaiModel, info: CivitaiVersion | None, file_name: str) -> Any:
    for version in model.modelVersions:
        if info is not None and info.id is not None and version.id == info.id:
            return version
    for version in model.modelVersions:
        if any(f.name == file_name for f in version.files):
            return version
    return model.modelVersions[0] if model.modelVersions else None


def merge(info: CivitaiVersion | None, model: CivitaiModel | None, *, file_name: str) -> Facts:
    """One model file's facts from its version info and / or its model JSON."""
    local = info
    others: list[CivitaiVersion] = []
    if model is not None:
        from_model = _local_version(model, info, file_name)
        local = info or from_model
        others = [v for v in model.modelVersions if v is not from_model]
    creator = (model.creator if model else None) or (info.creator if info else None)
    vmodel = info.model if info else None
    images = local.images if local else []
    levels = 0
    for image in images:
        levels |= nsfw_level(image.nsfwLevel)
    nsfw = model.nsfwLevel if model and model.nsfwLevel is not None else (levels or None)
    model_stats = model.stats if model and model.stats else (info.stats if info else None)
    return Facts(
        name=(model.name if model else None) or (vmodel.name if vmodel else None),
        type=(model.type if model else None) or (vmodel.type if vmodel else None),
        description=(model.description if model else None),
        baseModel=(local.baseModel if local else None),
        nsfwLevel=None if nsfw is None else nsfw_level(nsfw),
        creatorName=creator.username if creator else None,
        creatorAvatar=creator.image if creator else None,
        tags=list((model.tags if model else None) or (vmodel.tags if vmodel else [])),
        stats=stats(model_stats) if model_stats else None,
        trainedWords=list(local.trainedWords) if local else [],
        licensingInfo={
            k: getattr(model, k) for k in LICENSE_FIELDS if model and getattr(model, k) is not None
        },
        local=local,
        others=others,
    )
