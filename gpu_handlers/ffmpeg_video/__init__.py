"""ffmpeg media handler (`ffmpeg-video`): `video.combine` and `video.resize`, no weights.

Public API lives in `handler`: `load_pipeline(model_dir=None)` and `generate(payload)`.
"""
