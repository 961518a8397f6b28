"""What a model file says about itself, read without reading the file.

A safetensors file starts with an 8-byte little-endian header length N, then N bytes of
JSON: `{tensor name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}`, then the
tensor data. `read` fetches exactly those two ranges from Cloud Storage (bytes 0-7, then
8..8+N-1) and never the data region; a length over `MAX_HEADER` or past the end of the
file is refused before anything more is read. Anything malformed raises `HeaderError`
(the scan reports it and goes on). Precision is the dtype holding the most parameters
among the floating-point tensors; the model type is inferred from tensor names (LoRA
keys), then the folder category (see `infer_type`). Other formats are size and format only.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

MAX_HEADER = 100 * 1024 * 1024  # bytes: a header longer than this is refused unread
PREFIX = 8

PRECISIONS = {
    "F16": "fp16",
    "BF16": "bf16",
    "F32": "fp32",
    "F64": "fp64",
    "F8_E4M3": "fp8",
    "F8_E5M2": "fp8",
    "I8": "int8",
    "U8": "uint8",
    "I16": "int16",
    "I32": "int32",
    "I64": "int64",
    "BOOL": "bool",
}
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2"}

# Folder category (case-folded) -> Civitai type, for files no sidecar or tensor name types.
CATEGORY_TYPES = {
    "checkpoint": "Checkpoint",
    "checkpoints": "Checkpoint",
    "stable-diffusion": "Checkpoint",
    "diffusion_models": "Checkpoint",
    "unet": "Checkpoint",
    "lora": "LORA",
    "loras": "LORA",
    "locon": "LoCon",
    "lycoris": "LoCon",
    "vae": "VAE",
    "controlnet": "Controlnet",
    "upscaler": "Upscaler",
    "upscalers": "Upscaler",
    "upscale_models": "Upscaler",
    "esrgan": "Upscaler",
    "embeddings": "TextualInversion",
    "embedding": "TextualInversion",
    "textualinversion": "TextualInversion",
}
LORA_MARKERS = ("lora_up", "lora_down", "lora_a.", "lora_b.")
EMBEDDING_KEYS = {"emb_params", "string_to_param", "clip_l", "clip_g"}

# `ss_base_model_version` (kohya's training scripts) -> Civitai base model, by prefix.
BASE_MODELS = (
    ("sdxl", "SDXL 1.0"),
    ("sd_v1", "SD 1.5"),
    ("sd_v2", "SD 2.1"),
    ("sd3", "SD 3"),
    ("flux1", "Flux.1 D"),
    ("flux", "Flux.1 D"),
    ("qwen", "Qwen"),
)


class HeaderError(ValueError):
    """The file is not a well-formed safetensors file (the message says why)."""


@dataclass(frozen=True)
class Header:
    tensors: dict[str, dict[str, Any]]
    metadata: dict[str, str] | None

    @property
    def precision(self) -> str | None:
        return precision(self.tensors)


def header_length(prefix: bytes, *, file_size: int) -> int:
    """The JSON header's length from the file's first 8 bytes, checked against the limits."""
    if len(prefix) != PREFIX:
        raise HeaderError("file is shorter than a safetensors header")
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER:
        raise HeaderError(f"header length {length} exceeds {MAX_HEADER} bytes")
    if length < 2 or PREFIX + length > file_size:
        raise HeaderError(f"header length {length} does not fit a {file_size}-byte file")
    return int(length)


def parse(raw: bytes) -> Header:
    """The header JSON: tensors with dtype, shape and data_offsets; optional __metadata__."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HeaderError(f"header is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HeaderError("header is not a JSON object")
    metadata = data.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise HeaderError("__metadata__ must map strings to strings")
    for name, info in data.items():
        if not (
            isinstance(info, dict)
            and isinstance(info.get("dtype"), str)
            and isinstance(info.get("shape"), list)
            and all(isinstance(d, int) and d >= 0 for d in info["shape"])
            and isinstance(info.get("data_offsets"), list)
            and len(info["data_offsets"]) == 2
        ):
            raise HeaderError(f"tensor {name!r} lacks a valid dtype, shape or data_offsets")
    return Header(tensors=data, metadata=metadata)


def read(blob: Any, *, file_size: int) -> Header:
    """Read a Cloud Storage blob's header by two ranged reads (never the tensor data)."""
    prefix = blob.download_as_bytes(start=0, end=PREFIX - 1, checksum=None) if file_size else b""
    length = header_length(prefix, file_size=file_size)
    raw = blob.download_as_bytes(start=PREFIX, end=PREFIX + length - 1, checksum=None)
    if len(raw) != length:
        raise HeaderError("header is truncated")
    return parse(raw)


def precision(tensors: dict[str, dict[str, Any]]) -> str | None:
    """The dtype holding the most parameters, among floating-point tensors if any."""
    counts: dict[str, int] = {}
    for info in tensors.values():
        counts[info["dtype"]] = counts.get(info["dtype"], 0) + math.prod(info["shape"])
    floats = {d: n for d, n in counts.items() if d in FLOAT_DTYPES}
    chosen = floats or counts
    if not chosen:
        return None
    dtype = max(sorted(chosen), key=lambda d: chosen[d])
    return PRECISIONS.get(dtype, dtype.lower())


def infer_type(tensors: dict[str, Any] | None, *, category: str | None) -> str:
    """The Civitai type of a file no sidecar types: LoRA tensor names (`lora_` prefixes,
    lora_up / lora_down / lora_A / lora_B) -> LORA; embedding keys -> TextualInversion;
    else the folder category's type (CATEGORY_TYPES); else "Other"."""
    names = [n.casefold() for n in (tensors or {})]
    if any(n.startswith("lora_") or any(m in n for m in LORA_MARKERS) for n in names):
        return "LORA"
    if names and set(names) <= EMBEDDING_KEYS:
        return "TextualInversion"
    return CATEGORY_TYPES.get((category or "").casefold(), "Other")


def infer_base_model(metadata: dict[str, str] | None) -> str | None:
    """The base model named by the training metadata (kohya's ss_base_model_version or the
    modelspec architecture), or None."""
    meta = metadata or {}
    named = (meta.get("ss_base_model_version") or meta.get("modelspec.architecture") or "").lower()
    for prefix, base in BASE_MODELS:
        if named.startswith(prefix):
            return base
    return None
