"""Every media task routes to a handler that exists, with weights buildable offline."""

from __future__ import annotations

import pytest

from gpu_handlers import registry, tiny_models
from shared.media.jobs import routing
from shared.media.jobs.request import TASKS, parse_request
from shared.schemas.media import HANDLER_TASKS

BODIES = {
    "image.generate": {"prompt": "x"},
    "image.edit": {"prompt": "x", "sourceImageUrl": "https://e.com/a.png"},
    "video.generate": {"prompt": "x"},
    "video.combine": {"videoUrls": ["https://e.com/a.mp4", "https://e.com/b.mp4"]},
    "video.resize": {"sourceVideoUrl": "https://e.com/a.mp4", "width": 2, "height": 2},
    "audio.speak": {"text": "x"},
    "audio.annotation.reference": {"sourceAudioUrl": "https://e.com/a.wav"},
    "ace.step.create": {"tags": "x", "lyrics": "y"},
    "moss.sound.effect": {"prompt": "x"},
    "trellis.generate": {"sourceImageUrl": "https://e.com/a.png"},
}


@pytest.mark.parametrize("task", TASKS)
def test_each_task_routes_to_a_present_handler_that_runs_it(task: str) -> None:
    request = parse_request({"task": task, "input": BODIES[task]})
    handler = routing.handler_for(request)
    assert task in HANDLER_TASKS[handler]
    assert registry.is_present(handler)
    assert routing.backend_for(handler) == "runpod"
    assert routing.content_type_for(request) and routing.TIMEOUTS[task] > 0


def test_speech_provider_and_reference_images_pick_the_handler() -> None:
    gemini = parse_request({"task": "audio.speak", "input": {"text": "x", "provider": "gemini"}})
    assert routing.handler_for(gemini) == "gemini-tts"
    assert routing.content_type_for(gemini) == "audio/wav"
    refs = parse_request(
        {"task": "image.generate", "input": {"prompt": "x", "referenceImages": ["https://e.com/a"]}}
    )
    assert routing.handler_for(refs) == "flux-kontext"


def test_every_handler_with_weights_has_a_tiny_builder() -> None:
    for handler in HANDLER_TASKS:
        assert registry.is_present(handler), handler
        if handler in registry.TINY_MODULES:
            assert tiny_models._has_module(handler), handler
    assert set(tiny_models.ALL_MODELS) >= set(registry.TINY_MODULES)
