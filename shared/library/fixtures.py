"""Seed data for the library: small REAL safetensors files with training metadata, Civitai
sidecars and preview images, under `<Category>/<subcategory>/` folders. For tests, the
bench and `make dev`; nothing is downloaded.

Deterministic: the same `count` and `seed` give the same specs, paths and bytes. Models of
one kind share one tiny tensor file content (so 10,000 of them stay cheap); names, tags,
nsfwLevel, stats and sidecars vary. `upload` writes the objects to the library bucket
(optionally under a folder, which then is the category); `write_records` writes the records
the scan would write straight through models_store, for volumes where uploading is slow.
`MALFORMED` names the broken files `upload(malformed=True)` adds: one header, one sidecar.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from functools import cache
from typing import Any

from shared.library import models_store, records, scan_record, sidecars
from shared.library.safetensors_header import parse
from shared.library.storage import bucket

# (category, subcategory, Civitai type, base model, ss_base_model_version, tensor layout)
KINDS = (
    ("Checkpoint", "sdxl", "Checkpoint", "SDXL 1.0", "sdxl_base_v1-0", "checkpoint"),
    ("LoRA", "qwen", "LORA", "Qwen", "qwen_image", "lora"),
    ("LoRA", "flux", "LORA", "Flux.1 D", "flux1", "lora"),
    ("VAE", "sdxl", "VAE", "SDXL 1.0", "sdxl_base_v1-0", "vae"),
    ("Checkpoint", "sd15", "Checkpoint", "SD 1.5", "sd_v1", "checkpoint"),
)
TAGS = (
    "anime",
    "photorealistic",
    "style",
    "character",
    "concept",
    "landscape",
    "portrait",
    "clothing",
    "sci-fi",
    "fantasy",
)
WORDS = ("Amber", "Nova", "Velvet", "Echo", "Cobalt", "Lumen", "Saffron", "Drift", "Ivory", "Zen")
NSFW_LEVELS = (1, 1, 1, 2, 3, 4, 8, 16, 0)
MALFORMED = ("LoRA/flux/broken-header.safetensors", "LoRA/flux/broken-sidecar.civitai.info")


@dataclass(frozen=True)
class Spec:
    path: str  # relative to the models root (before any folder upload() puts it under)
    layout: str
    precision: str
    metadata: dict[str, str]
    info: dict[str, Any] | None  # <stem>.civitai.info
    model_json: dict[str, Any] | None  # <stem>.json
    preview: str | None  # suffix of the preview image, e.g. ".preview.png"


def specs(*, count: int = 15, seed: int = 0) -> list[Spec]:
    """`count` model specs, round-robin over KINDS, varied by `seed`."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        category, sub, civitai_type, base, ss_base, layout = KINDS[n % len(KINDS)]
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {category} {n}"
        stem = f"{name.lower().replace(' ', '-')}-{seed}"
        tags = rng.sample(TAGS, rng.randint(0, 3))
        nsfw = rng.choice(NSFW_LEVELS)
        version_id = 100_000 + seed * 1_000_000 + n
        stats = {
            "downloadCount": rng.randint(0, 50_000),
            "thumbsUpCount": rng.randint(0, 5_000),
            "thumbsDownCount": rng.randint(0, 50),
            "commentCount": rng.randint(0, 200),
            "tippedAmountCount": rng.randint(0, 1_000),
        }
        words = [f"{stem.split('-')[0]}_style"] if layout == "lora" else []
        version = {
            "id": version_id,
            "modelId": version_id + 500_000,
            "name": f"v{rng.randint(1, 3)}.0",
            "baseModel": base,
            "description": f"<p>Version of {name}</p>",
            "trainedWords": words,
            "stats": stats,
            "publishedAt": f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}T00:00:00Z",
            "files": [{"id": version_id + 1, "name": f"{stem}.safetensors", "sizeKB": 1.0}],
            "images": [
                {
                    "id": version_id + 2,
                    "nsfwLevel": nsfw,
                    "width": 64,
                    "height": 64,
                    "meta": {"prompt": f"a picture, {name}", "steps": 20, "cfgScale": 7},
                }
            ],
        }
        model = {
            "id": version_id + 500_000,
            "name": name,
            "type": civitai_type,
            "description": f"<p>{name}: a fixture model.</p>",
            "nsfwLevel": nsfw,
            "tags": tags,
            "creator": {"username": f"creator{n % 7}", "image": f"https://example.com/{n % 7}.png"},
            "stats": stats,
            "modelVersions": [version, {**version, "id": version_id + 9, "name": "v0.9"}],
        }
        sidecar = n % 4  # 0: both, 1: info only, 2: model JSON only, 3: none
        out.append(
            Spec(
                path=f"{category}/{sub}/{stem}.safetensors",
                layout=layout,
                precision=("F16", "BF16", "F32")[n % 3],
                metadata={"ss_base_model_version": ss_base, "ss_network_dim": str(4 << n % 3)},
                info={**version, "model": {"name": name, "type": civitai_type, "tags": tags}}
                if sidecar in (0, 1)
                else None,
                model_json=model if sidecar in (0, 2) else None,
                preview=(".preview.png", ".jpg", ".png", None)[n % 4],
            )
        )
    return out


@cache
def tensor_file(layout: str, dtype: str, metadata: tuple[tuple[str, str], ...]) -> bytes:
    """A tiny real safetensors file of this layout (LoRA-style names for LoRAs)."""
    import numpy as np
    from safetensors.numpy import save

    np_dtype = {"F16": np.float16, "F32": np.float32, "BF16": np.float16}[dtype]
    if layout == "lora":
        names = [
            "lora_unet_down_blocks_0_attn1_to_q.lora_down.weight",
            "lora_unet_down_blocks_0_attn1_to_q.lora_up.weight",
        ]
    elif layout == "vae":
        names = ["encoder.conv_in.weight", "decoder.conv_out.weight"]
    else:
        names = ["model.diffusion_model.input_blocks.0.0.weight", "cond_stage_model.proj"]
    tensors = {n: np.full((4, 4), i + 1, dtype=np_dtype) for i, n in enumerate(names)}
    data = bytearray(save(tensors, metadata=dict(metadata)))
    if dtype == "BF16":  # numpy has no bfloat16: same bytes, the header says BF16
        raw = bytes(data)
        length = int.from_bytes(raw[:8], "little")
        header = raw[8 : 8 + length].replace(b'"F16"', b'"BF16"')
        data = bytearray(len(header).to_bytes(8, "little") + header + raw[8 + length :])
    return bytes(data)


@cache
def preview_image(fmt: str, shade: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (64, 64), (shade, 255 - shade, (shade * 7) % 256))
    for x in range(0, 64, 8):
        image.paste((255 - shade, shade, 128), (x, x, x + 8, x + 8))
    out = io.BytesIO()
    image.save(out, "JPEG" if fmt == "jpg" else fmt.upper())
    return out.getvalue()


def objects(spec: Spec) -> dict[str, bytes]:
    """The spec's files: relative path -> bytes."""
    stem = spec.path[: -len(".safetensors")]
    files = {spec.path: tensor_file(spec.layout, spec.precision, tuple(spec.metadata.items()))}
    if spec.info is not None:
        files[stem + sidecars.INFO_SUFFIX] = json.dumps(spec.info).encode()
    if spec.model_json is not None:
        files[stem + ".json"] = json.dumps(spec.model_json).encode()
    if spec.preview:
        files[stem + spec.preview] = preview_image(
            spec.preview.rsplit(".", 1)[1], len(stem) * 9 % 256
        )
    return files


def malformed() -> dict[str, bytes]:
    """One file with an impossible header length, one LoRA with a sidecar that is not JSON."""
    bad_header = (1 << 40).to_bytes(8, "little") + b"{}" + bytes(32)
    lora = tensor_file("lora", "F16", (("ss_network_dim", "8"),))
    return {
        MALFORMED[0]: bad_header,
        MALFORMED[1].replace(sidecars.INFO_SUFFIX, ".safetensors"): lora,
        MALFORMED[1]: b'{"name": "unterminated',
    }


def upload(*, count: int = 15, seed: int = 0, folder: str = "", broken: bool = True) -> list[str]:
    """Upload the fixtures to the bucket under the models root (and `folder`); returns the
    model files' paths relative to the root."""
    base = f"{records.models_root()}/{folder.strip('/') + '/' if folder.strip('/') else ''}"
    files: dict[str, bytes] = {}
    for spec in specs(count=count, seed=seed):
        files.update(objects(spec))
    if broken:
        files.update(malformed())
    target = bucket()
    for rel, data in files.items():
        target.blob(base + rel).upload_from_string(data)
    prefix = base[len(records.models_root()) + 1 :]
    return [prefix + rel for rel in files if rel.endswith(".safetensors")]


def write_records(*, count: int, seed: int = 0, folder: str = "") -> list[int]:
    """The records a scan of `upload(count, seed, folder)` would write, written directly
    (no objects, no previews): for the bench's 10,000 models. Returns their ids. A later
    full scan removes them (their files do not exist)."""
    import datetime as dt

    items = []
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for n, spec in enumerate(specs(count=count, seed=seed)):
        path = f"{folder}/{spec.path}" if folder else spec.path
        header_bytes = tensor_file(spec.layout, spec.precision, tuple(spec.metadata.items()))
        length = int.from_bytes(header_bytes[:8], "little")
        header = parse(header_bytes[8 : 8 + length])
        info = sidecars.CivitaiVersion.model_validate(spec.info) if spec.info else None
        model = sidecars.CivitaiModel.model_validate(spec.model_json) if spec.model_json else None
        facts = (
            sidecars.merge(info, model, file_name=path.rsplit("/", 1)[1]) if info or model else None
        )
        scan = scan_record.build(
            path=path,
            size=len(header_bytes),
            header=header,
            facts=facts,
            previews=[],
            fingerprint="fixture",
        )
        items.append((path, scan, start + dt.timedelta(minutes=n)))
    return models_store.put_scanned_many(items=items)


def seed_library() -> dict[str, Any]:
    """`make dev` / `relay library seed`: upload the fixtures and scan."""
    from shared.library import scan

    upload()
    return scan.public(scan.run())
