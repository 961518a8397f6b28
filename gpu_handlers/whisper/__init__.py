"""Whisper handler: `audio.annotation.reference` (word timings, transcript anchoring)."""
