"""`video.combine`: concatenate 2..24 staged clips into one H.264 (+ AAC) MP4, streaming.

No clip is ever held in memory: each is normalised by ffmpeg to a file on disk, one at a
time, and the parts are joined with the concat demuxer (video stream-copied, audio encoded
once from the joined PCM).

Invariants:
- Every clip is converted to `frameRate` and scaled (aspect kept, letterboxed) to the first
  clip's size (rounded down to even sides); every clip after the first then drops its first
  `overlapFrames` frames (they repeat the previous clip's tail). A clip left with no frame
  is refused (`MediaInputError`).
- Audio stays in sync: a clip's audio is trimmed by overlapFrames / frameRate seconds, then
  padded or cut to exactly its part's video length (frames / frameRate), so the parts join
  without drift; a clip without audio gets that much silence. When no clip has audio the
  output has no audio track.
- All parts share `clips.H264_ARGS`, so their H.264 streams concatenate by stream copy.
- meta: width, height, frames, fps, durationSeconds, hasAudio, clips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from gpu_handlers.ffmpeg_video import clips
from shared.schemas.media import MediaHandlerInput


class CombineInput(BaseModel):
    """The effective input (shared/media/jobs/video.py VideoCombineInput, media staged)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    videoUrls: Annotated[list[dict[str, Any]], Field(min_length=2, max_length=24)]
    overlapFrames: Annotated[int, Field(ge=0, le=120)] = 1
    frameRate: Annotated[int, Field(ge=1, le=120)] = 60


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _video_part(clip: clips.Clip, dest: Path, *, size: tuple[int, int], fps: int, skip: int) -> int:
    """Encode one clip's video part; returns its frame count."""
    width, height = size
    chain = (
        f"fps={fps},trim=start_frame={skip},setpts=PTS-STARTPTS,"
        f"scale={width}:{height}:force_original_aspect_ratio=decrease:flags={clips.SCALE_FLAGS},"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p"
    )
    media_io.ffmpeg(
        "-i", str(clip.path), "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", chain,
        *clips.H264_ARGS, "-video_track_timescale", str(fps * 1000),
        *clips.BITEXACT_ARGS, str(dest),
    )  # fmt: skip
    streams = media_io.probe(dest).get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), {})
    return int(video.get("nb_read_packets") or 0)


def _audio_part(clip: clips.Clip, dest: Path, *, skip_seconds: float, samples: int) -> None:
    """Write exactly `samples` stereo 48 kHz PCM samples of the clip's audio (or silence)."""
    fit = f"apad=whole_len={samples},atrim=end_sample={samples}"
    if clip.has_audio:
        source = ["-i", str(clip.path), "-map", "0:a:0"]
        chain = (
            f"atrim=start={skip_seconds:.6f},asetpts=PTS-STARTPTS,"
            f"aresample={clips.AUDIO_RATE},aformat=sample_fmts=s16:channel_layouts=stereo,{fit}"
        )
    else:
        source = ["-f", "lavfi", "-i", f"anullsrc=r={clips.AUDIO_RATE}:cl=stereo"]
        chain = f"aformat=sample_fmts=s16:channel_layouts=stereo,{fit}"
    media_io.ffmpeg(*source, "-vn", "-af", chain, "-c:a", "pcm_s16le", str(dest))


def _list_file(parts: list[tuple[Path, float]], dest: Path) -> Path:
    """A concat list with each part's exact duration (MP4 states it in ms only, which would
    shift every later part by up to half a millisecond)."""
    dest.write_text("".join(f"file '{p.as_posix()}'\nduration {d:.9f}\n" for p, d in parts))
    return dest


def run(job: MediaHandlerInput, work: Path) -> tuple[Path, dict[str, Any]]:
    """Combine the job's clips; returns (output path, meta)."""
    try:
        args = CombineInput.model_validate(job.input)
    except ValidationError as exc:
        raise MediaInputError(f"input: {exc.errors(include_url=False)[0]['msg']}") from None
    sources = [
        clips.fetch_clip(value, f"videoUrls.{i}", work / f"in{i}")
        for i, value in enumerate(args.videoUrls)
    ]
    clips.check_total(sources)
    size = (_even(sources[0].width), _even(sources[0].height))
    fps, overlap = args.frameRate, args.overlapFrames
    with_audio = any(c.has_audio for c in sources)
    video_parts: list[tuple[Path, float]] = []
    audio_parts: list[tuple[Path, float]] = []
    for i, clip in enumerate(sources):
        skip = overlap if i else 0
        part = work / f"v{i}.mp4"
        frames = _video_part(clip, part, size=size, fps=fps, skip=skip)
        if frames <= 0:
            raise MediaInputError(
                f"input.videoUrls.{i} has no frame left after dropping {skip} overlap frames"
            )
        video_parts.append((part, frames / fps))
        if with_audio:
            audio = work / f"a{i}.wav"
            samples = round(frames * clips.AUDIO_RATE / fps)
            _audio_part(clip, audio, skip_seconds=skip / fps, samples=samples)
            audio_parts.append((audio, samples / clips.AUDIO_RATE))
    out = work / "combined.mp4"
    inputs = ["-f", "concat", "-safe", "0", "-i", str(_list_file(video_parts, work / "v.txt"))]
    maps = ["-map", "0:v:0"]
    if with_audio:
        inputs += ["-f", "concat", "-safe", "0", "-i", str(_list_file(audio_parts, work / "a.txt"))]
        maps += ["-map", "1:a:0", *clips.AAC_ARGS]
    media_io.ffmpeg(
        *inputs,
        *maps,
        "-c:v",
        "copy",
        "-video_track_timescale",
        str(fps * 1000),
        *clips.BITEXACT_ARGS,
        str(out),
    )
    meta = media_io.video_meta(out)
    meta["clips"] = len(sources)
    return out, meta
