"""`audio.speak`, `audio.annotation.reference`, `ace.step.create` and `moss.sound.effect`.

`audio.speak` (text to speech):
- `text` 1..6000. `provider` omnivoice (default) | gemini.
- OmniVoice-only: `mode` (voice_design, filled in when omitted | voice_clone),
  `voiceDescription` (4..240, comma-separated tags from VOICE_TAGS, case-insensitive),
  `referenceAudio` / `referenceAudioUrl` (folded into `referenceAudio`),
  `referenceTranscript`, `language` (English | en), `quality` (96k | 128k | 192k), `seed`.
- Gemini-only: `voiceName` (1..120, filled in as Kore when omitted), `instructions`
  (1..2000). A field of the other provider is INVALID; gemini does not take voice_clone.
- voice_clone needs reference audio, and reference audio (and its transcript) needs
  voice_clone: the mode is never switched silently.

`audio.annotation.reference`: source audio required (`sourceAudioUrl` or `sourceAudio`, folded
into `sourceAudio`); `transcript` 1..24000; `language` en; `transcriptionModel`
distil-large-v3 | large-v3 (filled in: distil-large-v3 with a transcript, large-v3
without); `device` auto | cuda | cpu.

`ace.step.create`: `tags` 1..2000, `lyrics` 1..12000 required; `qualityPreset` default |
high_quality (high_quality fills in 108 s and 192k unless given; the sampler settings it
implies are the worker's); `durationSeconds` 15..240 (ACE_DEFAULT_SECONDS billed when
omitted); `bpm` 40..240; `quality`; `seed`; `steps` 4..32; `textCfgScale` 1..8; `samplerCfg` 1..12;
`temperature` 0.1..2; `topP` 0..1; `topK` 0..200; `minP` 0..0.5; `timeSignature` "2".."7";
`language` en; `keyScale` like "E minor" / "C# major".

`moss.sound.effect`: `prompt` 1..2000; `durationSeconds` 1..30 (MOSS_DEFAULT_SECONDS billed
when omitted); `quality`; `temperature`
0.1..3; `topP` 0..1; `topK` 1..200; `repetitionPenalty` 0.8..2.5; `maxNewTokens` 64..4096.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, field_validator, model_validator

from shared.media.jobs.assets import AudioInput, AudioUrl, InputModel, SpeechReferenceAudio
from shared.media.jobs.video import Seed

Quality = Literal["96k", "128k", "192k"]
VOICE_TAGS: Final = frozenset(
    {
        "female", "male", "child", "teenager", "young adult", "middle-aged", "elderly",
        "very low pitch", "low pitch", "moderate pitch", "high pitch", "very high pitch",
        "whisper", "american accent", "british accent", "australian accent", "canadian accent",
        "indian accent", "chinese accent", "korean accent", "japanese accent",
        "portuguese accent", "russian accent",
    }
)  # fmt: skip
DEFAULT_PROVIDER: Final = "omnivoice"
DEFAULT_GEMINI_VOICE: Final = "Kore"
_OMNIVOICE_ONLY: Final = (
    "voice_description",
    "reference_audio",
    "reference_transcript",
    "language",
    "quality",
    "seed",
)
_GEMINI_ONLY: Final = ("voice_name", "instructions")
ACE_HIGH_QUALITY_SECONDS: Final = 108
ACE_DEFAULT_SECONDS: Final = 60
MOSS_DEFAULT_SECONDS: Final = 10


class AudioSpeakInput(InputModel):
    text: Annotated[str, Field(min_length=1, max_length=6000)]
    provider: Literal["omnivoice", "gemini"] = DEFAULT_PROVIDER
    mode: Literal["voice_design", "voice_clone"] | None = None
    voice_description: Annotated[str, Field(min_length=4, max_length=240)] | None = None
    voice_name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    instructions: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    reference_audio: SpeechReferenceAudio | None = None
    reference_audio_url: Annotated[AudioUrl | None, Field(exclude=True)] = None
    reference_transcript: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    language: Literal["English", "en"] | None = None
    quality: Quality | None = None
    seed: Seed | None = None

    @field_validator("voice_description")
    @classmethod
    def _tags(cls, value: str | None) -> str | None:
        if value is None:
            return value
        for tag in value.split(","):
            if tag.strip().lower() not in VOICE_TAGS:
                raise ValueError(f"unsupported voice tag {tag.strip()!r}")
        return value

    @model_validator(mode="after")
    def _provider_rules(self) -> AudioSpeakInput:
        self.fold("reference_audio", "reference_audio_url")
        other = _OMNIVOICE_ONLY if self.provider == "gemini" else _GEMINI_ONLY
        for name in other:
            if getattr(self, name) is not None:
                field = "referenceAudio" if name == "reference_audio" else _camel(name)
                raise ValueError(f"input.{field} is not supported by provider {self.provider}")
        if self.provider == "gemini":
            if self.mode == "voice_clone":
                raise ValueError("input.mode voice_clone is not supported by provider gemini")
            self.voice_name = self.voice_name or DEFAULT_GEMINI_VOICE
            return self
        self.mode = self.mode or "voice_design"
        cloning = self.mode == "voice_clone"
        if cloning and self.reference_audio is None:
            raise ValueError("input.mode voice_clone needs input.referenceAudio")
        if not cloning and self.reference_audio is not None:
            raise ValueError("input.referenceAudio needs input.mode voice_clone")
        if not cloning and self.reference_transcript is not None:
            raise ValueError("input.referenceTranscript needs input.mode voice_clone")
        return self


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class AudioAnnotationInput(InputModel):
    source_audio: AudioInput | None = None
    source_audio_url: Annotated[AudioUrl | None, Field(exclude=True)] = None
    transcript: Annotated[str, Field(min_length=1, max_length=24000)] | None = None
    language: Literal["en"] | None = None
    transcription_model: Literal["distil-large-v3", "large-v3"] | None = None
    device: Literal["auto", "cuda", "cpu"] | None = None

    @model_validator(mode="after")
    def _source(self) -> AudioAnnotationInput:
        self.fold("source_audio", "source_audio_url")
        if self.source_audio is None:
            raise ValueError("input.sourceAudioUrl or input.sourceAudio is required")
        if self.transcription_model is None:
            self.transcription_model = "distil-large-v3" if self.transcript else "large-v3"
        return self


class AceStepInput(InputModel):
    tags: Annotated[str, Field(min_length=1, max_length=2000)]
    lyrics: Annotated[str, Field(min_length=1, max_length=12000)]
    quality_preset: Literal["default", "high_quality"] | None = None
    duration_seconds: Annotated[int, Field(ge=15, le=240)] | None = None
    bpm: Annotated[int, Field(ge=40, le=240)] | None = None
    quality: Quality | None = None
    seed: Seed | None = None
    steps: Annotated[int, Field(ge=4, le=32)] | None = None
    text_cfg_scale: Annotated[float, Field(ge=1, le=8)] | None = None
    sampler_cfg: Annotated[float, Field(ge=1, le=12)] | None = None
    temperature: Annotated[float, Field(ge=0.1, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0, le=200)] | None = None
    min_p: Annotated[float, Field(ge=0, le=0.5)] | None = None
    time_signature: Literal["2", "3", "4", "5", "6", "7"] | None = None
    language: Literal["en"] | None = None
    key_scale: Annotated[str, Field(pattern=r"^[A-G](?:#|b)?\s(?:major|minor)$")] | None = None

    @model_validator(mode="after")
    def _preset(self) -> AceStepInput:
        if self.quality_preset == "high_quality":
            self.duration_seconds = self.duration_seconds or ACE_HIGH_QUALITY_SECONDS
            self.quality = self.quality or "192k"
        return self

    def billed_seconds(self) -> int:
        return self.duration_seconds or ACE_DEFAULT_SECONDS


class MossSoundEffectInput(InputModel):
    prompt: Annotated[str, Field(min_length=1, max_length=2000)]
    duration_seconds: Annotated[int, Field(ge=1, le=30)] | None = None
    quality: Quality | None = None
    temperature: Annotated[float, Field(ge=0.1, le=3)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=1, le=200)] | None = None
    repetition_penalty: Annotated[float, Field(ge=0.8, le=2.5)] | None = None
    max_new_tokens: Annotated[int, Field(ge=64, le=4096)] | None = None

    def billed_seconds(self) -> int:
        return self.duration_seconds or MOSS_DEFAULT_SECONDS
