"""Model records for the library's API tests, written through models_store.put_scanned as
the scan would, under one category per test so tests never see each other's data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.library import models_store

EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def scan(**overrides: Any) -> dict[str, Any]:
    """A scan dict with every field the scanner writes; `overrides` replace any of them."""
    base: dict[str, Any] = {
        "name": "Model",
        "type": "LORA",
        "description": "<p>desc</p>",
        "fileSize": 1234,
        "category": "LoRA",
        "subcategory": None,
        "baseModel": "SDXL 1.0",
        "nsfwLevel": 1,
        "creatorName": "someone",
        "creatorAvatar": "https://example.com/a.png",
        "tags": ["style"],
        "stats": {
            "downloadCount": 10,
            "thumbsUpCount": 2,
            "thumbsDownCount": 0,
            "commentCount": 0,
            "tippedAmountCount": 0,
        },
        "trainedWords": ["trigger"],
        "licensingInfo": {},
        "hasMetadata": True,
        "heroImage": None,
        "versions": [
            {
                "id": 7,
                "name": "v1",
                "baseModel": "SDXL 1.0",
                "description": None,
                "stats": {},
                "publishedAt": None,
                "trainedWords": ["trigger"],
                "isLocal": True,
                "files": [
                    {
                        "id": 8,
                        "fileName": "model.safetensors",
                        "sizeKb": 2,
                        "format": "SafeTensor",
                        "precision": "fp16",
                    }
                ],
                "images": [],
            }
        ],
        "format": "SafeTensor",
        "precision": "fp16",
        "headerMetadata": None,
        "fingerprint": "f",
    }
    return {**base, **overrides}


def put(path: str, *, minutes: int = 0, **overrides: Any) -> int:
    """A model at `path`, added `minutes` after EPOCH; returns its id."""
    return models_store.put_scanned(
        path=path, scan=scan(**overrides), added_at=EPOCH + dt.timedelta(minutes=minutes)
    )
