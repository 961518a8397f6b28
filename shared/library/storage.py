"""The library bucket: model files under the models root, thumbnails and user uploads.

Layout (bucket `settings.library_bucket`):
- `<models root>/<category>/<subcategory>/<file>` and its sidecars and previews: the files
  the handlers load; the scan reads them, the API serves them, nothing here writes them.
- `thumbs/<name>.webp`: thumbnails the scan and uploads make.
- `uploads/<modelId>/<name>.<ext>`: images users upload.
"""

from __future__ import annotations

from typing import Any

from shared.engine.clients import storage_client
from shared.engine.settings import get_settings

THUMBS = "thumbs"
UPLOADS = "uploads"


def bucket() -> Any:
    return storage_client().bucket(get_settings().library_bucket)


def ensure_bucket() -> None:
    """Create the bucket if missing (local stack; production declares it in infra/)."""
    client = storage_client()
    if client.lookup_bucket(get_settings().library_bucket) is None:
        client.create_bucket(get_settings().library_bucket)
