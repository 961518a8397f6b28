"""Frame arrays between the sampler and the encoder: uint8 conversion, exact-size resize and
retiming to the output fps.

Invariants:
- `retime` returns exactly `plan.output_frames` frames: motion-compensated interpolation
  (ffmpeg `minterpolate`, mci) from `sampled_fps` to `output_fps`, then the tail is trimmed
  or its last frame repeated to the count (ffmpeg's own count may differ by a frame or two).
  With interpolation off it returns the sampled frames unchanged.
- `resize` is a no-op when the frames already have the size; otherwise Lanczos per frame.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gpu_handlers import media_io
from gpu_handlers.ltx_video.plan import Plan


def to_uint8(frames: np.ndarray) -> np.ndarray:
    data = np.nan_to_num(np.asarray(frames, dtype=np.float32))
    return (np.clip(data, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resize(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack(
        [
            np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.LANCZOS))
            for f in frames
        ]
    )


def interpolate(frames: np.ndarray, in_fps: int, out_fps: int) -> np.ndarray:
    """Motion-compensated frame-rate conversion of RGB uint8 frames (ffmpeg minterpolate)."""
    _count, height, width, _ = frames.shape
    raw = media_io.ffmpeg(
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(in_fps),
        "-i", "pipe:0",
        "-vf", f"minterpolate=fps={out_fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
        stdin=np.ascontiguousarray(frames).tobytes(),
    )  # fmt: skip
    out = np.frombuffer(raw, dtype=np.uint8)
    return out.reshape(-1, height, width, 3)


def retime(frames: np.ndarray, plan: Plan) -> np.ndarray:
    if not plan.interpolates:
        return frames
    out = interpolate(frames, plan.sampled_fps, plan.output_fps)
    want = plan.output_frames
    if len(out) >= want:
        return out[:want]
    pad = np.repeat(out[-1:], want - len(out), axis=0)
    return np.concatenate([out, pad])
