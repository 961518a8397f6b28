"""`/files/<object>` serves library pictures only: the name check refuses model files,
other areas and every traversal shape before the bucket is touched."""

from __future__ import annotations

import pytest

from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.library.served_files import permitted


@pytest.fixture(autouse=True)
def _local_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:7")
    monkeypatch.setenv("RELAY_LIBRARY_MODELS_ROOT", "models")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("thumbs/abc.webp", "image/webp"),
        ("uploads/123/x.PNG", "image/png"),
        ("uploads/123/x.jpeg", "image/jpeg"),
        ("models/LoRA/sdxl/style.preview.jpg", "image/jpeg"),
        ("models/LoRA/style.gif", "image/gif"),
    ],
)
def test_pictures_in_served_areas_are_permitted_with_their_type(name, content_type):
    assert permitted(name) == content_type


@pytest.mark.parametrize(
    "name",
    [
        "models/LoRA/style.safetensors",  # a model file, never served here
        "models/LoRA/style.civitai.info",  # a sidecar
        "thumbs/notes.txt",
        "secrets/a.png",  # outside the served areas
        "modelsX/a.png",  # a sibling prefix of the root is not the root
        "models/../secrets/a.png",
        "thumbs/../uploads/../../a.png",
        "/models/a.png",
        "models//a.png",
        "models/./a.png",
        "models\\a.png",
        "models/a\x00.png",
        "..",
        "",
        "models/" + "a" * 1100 + ".png",
    ],
)
def test_everything_else_is_forbidden(name):
    with pytest.raises(AppError) as caught:
        permitted(name)
    assert caught.value.kind is ErrorKind.FORBIDDEN
