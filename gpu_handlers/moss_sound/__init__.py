"""MOSS sound-effect handler: `moss.sound.effect` (text to sound, Ogg Opus)."""
