"""`trellis` handler: `trellis.generate` (one image -> a GLB mesh).

Invariants:
- Production (no RELAY_MODEL_DIR) runs TRELLIS.2 (PRODUCTION_REPO) through its own package
  (`trellis2`, installed only in the handler image; not on the registries), imported lazily.
- Locally (RELAY_MODEL_DIR set) the same handler interface runs diffusers'
  `ShapEImg2ImgPipeline` (tiny random build of openai/shap-e-img2img's classes, tiny.py)
  from `$RELAY_MODEL_DIR/trellis` with local_files_only: image -> latent -> the renderer's
  marching-cubes mesh. Random weights give an SDF of one sign (an empty mesh); then the same
  SDF grid's occupancy above its median is meshed as voxel boxes (meta.isoLevel
  "median-voxels"), so the file is always a real, non-empty mesh of what the model computed.
- Output is binary glTF (GLB) written by trimesh; `targetFaceCount` is an upper bound
  (quadric decimation, else face subsampling), never exceeded. A source that is not an image
  is MediaInputError. meta: vertices, faces, preset.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError

HANDLER_ID = "trellis"
PRODUCTION_REPO = "microsoft/TRELLIS.2-4B"
LOCAL_REPO = "openai/shap-e-img2img"  # the stand-in's architecture (tiny.py)
DEFAULT_PRESET = "balanced"
# Preset -> (steps for each TRELLIS stage, mesh resolution); explicit knobs override.
PRESETS: dict[str, dict[str, int]] = {
    "performance": {"steps": 8, "meshResolution": 256},
    "balanced": {"steps": 12, "meshResolution": 512},
    "fidelity": {"steps": 20, "meshResolution": 1024},
}
LOCAL_GRID = 16  # marching-cubes grid of the stand-in (production Shap-E uses 128)

_LOCK = threading.Lock()
_PIPE: dict[str, Any] = {}


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Any:
    """The stand-in pipeline when a model root is set, else TRELLIS.2 (handler image only)."""
    from gpu_handlers import diffusion

    source = diffusion.weights_source(HANDLER_ID, PRODUCTION_REPO, model_dir)
    with _LOCK:
        if source not in _PIPE:
            if Path(source).is_dir():
                from diffusers import ShapEImg2ImgPipeline

                pipe = ShapEImg2ImgPipeline.from_pretrained(source, local_files_only=True)
                pipe.to(diffusion.default_device())
                pipe.set_progress_bar_config(disable=True)
            else:  # pragma: no cover - production image only
                from trellis2.pipelines import Trellis2ImageTo3DPipeline

                pipe = Trellis2ImageTo3DPipeline.from_pretrained(source)
                pipe.cuda()
            _PIPE[source] = pipe
        return _PIPE[source]


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    job = media_io.parse(payload, HANDLER_ID)
    inp = job.input
    preset = inp.get("qualityPreset") or DEFAULT_PRESET
    if preset not in PRESETS:
        raise MediaInputError(f"input.qualityPreset must be one of {sorted(PRESETS)}")
    target = inp.get("targetFaceCount")
    if target is not None and (not isinstance(target, int) or target < 1):
        raise MediaInputError("input.targetFaceCount must be a positive integer")
    source = media_io.media_file(inp.get("sourceImage"), "sourceImage")
    if not source.mimeType.startswith("image/"):
        raise MediaInputError(f"input.sourceImage is {source.mimeType}, not an image")
    pipe = load_pipeline()
    with media_io.workdir() as tmp:
        image = media_io.read_image(source, tmp / "source")
        with _LOCK:
            mesh, facts = _run(pipe, image, inp, preset)
        if target is not None and len(mesh.faces) > target:
            mesh = _decimate(mesh, target)
        if len(mesh.faces) == 0:
            raise RuntimeError("the model produced an empty mesh")
        out = tmp / "mesh.glb"
        mesh.export(out, file_type="glb")
        meta = {
            "vertices": len(mesh.vertices),
            "faces": len(mesh.faces),
            "preset": preset,
            **facts,
        }
        return media_io.deliver(job, out, meta, started=started)


def _run(pipe: Any, image: Any, inp: dict[str, Any], preset: str) -> tuple[Any, dict[str, Any]]:
    import torch

    knobs = PRESETS[preset]
    seed = int(inp.get("seed") or 0)
    if type(pipe).__name__ != "ShapEImg2ImgPipeline":  # pragma: no cover - production only
        return _run_trellis2(pipe, image, inp, knobs, seed), {}
    generator = torch.Generator("cpu").manual_seed(seed)
    steps = int(inp.get("shapeSteps") or knobs["steps"])
    with torch.inference_mode():
        latents = pipe(image, num_inference_steps=steps, generator=generator, output_type="latent")
    return _shap_e_mesh(pipe.shap_e_renderer, latents.images[0], pipe.device)


def _shap_e_mesh(renderer: Any, latent: Any, device: Any) -> tuple[Any, dict[str, Any]]:
    import torch
    import trimesh
    from diffusers.pipelines.shap_e.renderer import volume_query_points

    with torch.inference_mode():
        try:
            decoded = renderer.decode_to_mesh(latent[None], device, grid_size=LOCAL_GRID)
            verts, faces = decoded.verts, decoded.faces
            level = "zero"
        except ValueError:  # no zero crossing: decode_to_mesh got an empty mesh
            # decode_to_mesh already loaded the latent's weights into renderer.mlp.
            points = volume_query_points(renderer.volume, LOCAL_GRID)[None].to(device)
            sdf = renderer.mlp(
                position=points, direction=None, ts=None, nerf_level="fine", rendering_mode="stf"
            ).signed_distance.float()
            field = sdf.reshape(*([LOCAL_GRID] * 3))
            # A random build's MeshDecoder has all-zero marching-cubes tables (the real
            # ones ship in the checkpoint), so mesh the occupancy (field above its median)
            # as voxel boxes in the renderer's bounding box instead.
            occupied = (field > field.median()).cpu().numpy()
            box = renderer.volume
            lo = np.asarray(box.bbox_min.cpu(), dtype=np.float64).reshape(3)
            size = np.asarray((box.bbox_max - box.bbox_min).cpu(), dtype=np.float64).reshape(3)
            boxes = trimesh.voxel.VoxelGrid(occupied).as_boxes()
            boxes.apply_scale(size / LOCAL_GRID)
            boxes.apply_translation(lo)
            return boxes, {"isoLevel": "median-voxels"}
    mesh = trimesh.Trimesh(
        vertices=np.asarray(verts.cpu(), dtype=np.float64),
        faces=np.asarray(faces.cpu(), dtype=np.int64),
        process=True,
    )
    return mesh, {"isoLevel": level}


def _decimate(mesh: Any, target: int) -> Any:
    """At most `target` faces: quadric decimation when available, else a face subset."""
    try:
        reduced = mesh.simplify_quadric_decimation(face_count=target)
        if 0 < len(reduced.faces) <= target:
            return reduced
    except (ImportError, ModuleNotFoundError, ValueError, TypeError):
        pass
    keep = np.linspace(0, len(mesh.faces) - 1, target).astype(np.int64)
    sub = mesh.submesh([keep], append=True)
    sub.remove_unreferenced_vertices()
    return sub


def _run_trellis2(
    pipe: Any, image: Any, inp: dict[str, Any], knobs: dict[str, int], seed: int
) -> Any:  # pragma: no cover - production image only (TRELLIS.2's published pipeline API)
    import trimesh

    steps = {
        "sparse_structure_sampler_params": {"steps": inp.get("sparseStructureSteps")},
        "shape_slat_sampler_params": {"steps": inp.get("shapeSteps")},
        "tex_slat_sampler_params": {"steps": inp.get("textureSteps")},
    }
    for params in steps.values():
        params["steps"] = params["steps"] or knobs["steps"]
    outputs = pipe.run(
        image, seed=seed, preprocess_image=inp.get("removeBackground", True), **steps
    )
    mesh = outputs[0]
    mesh.simplify(16_777_216)  # nvdiffrast limit, as TRELLIS.2's example does
    import o_voxel

    glb = o_voxel.postprocess.to_glb(
        vertices=mesh.vertices,
        faces=mesh.faces,
        attr_volume=mesh.attrs,
        coords=mesh.coords,
        attr_layout=mesh.layout,
        voxel_size=mesh.voxel_size,
        aabb=[[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]],
        decimation_target=inp.get("targetFaceCount") or 1_000_000,
        texture_size=inp.get("textureSize") or 2048,
        remesh=True,
    )
    return (
        trimesh.util.concatenate(list(glb.geometry.values())) if hasattr(glb, "geometry") else glb
    )
