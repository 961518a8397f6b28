"""The upload form (multipart/form-data) of POST /api/models/:id/images, read with
Werkzeug's parser from the body the entry point already read under its limit.

One `file` part and text fields with one value each; anything else is INVALID. The text
fields together stay under FORM_FIELDS_BYTES (413 past it, like a body past its limit).
"""

from __future__ import annotations

import flask
from werkzeug.exceptions import RequestEntityTooLarge

from shared.engine.errors import AppError, ErrorKind
from shared.library.image_params import MAX_PARAMS_BYTES
from shared.library.user_images import MAX_UPLOAD_BYTES

FORM_FIELDS_BYTES = 2 * MAX_PARAMS_BYTES + 256 * 1024
# The route group's body limit: the largest file plus the text fields and part headers.
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + FORM_FIELDS_BYTES + 64 * 1024


def _invalid(message: str) -> AppError:
    return AppError(ErrorKind.INVALID, message)


def upload(request: flask.Request) -> tuple[bytes, dict[str, str]]:
    """(the file's bytes, at most one past MAX_UPLOAD_BYTES; the text fields)."""
    if request.mimetype != "multipart/form-data":
        raise _invalid("Request must be multipart/form-data")
    request.max_form_memory_size = FORM_FIELDS_BYTES
    try:
        form, files = request.form, request.files
    except RequestEntityTooLarge:
        raise AppError(ErrorKind.TOO_LARGE, "Form fields are too large") from None
    extra_files = sorted(set(files) - {"file"})
    if extra_files:
        raise _invalid(f"Unknown file field: {extra_files[0]}")
    if len(files.getlist("file")) != 1:
        raise _invalid("file: exactly one image file is required")
    fields: dict[str, str] = {}
    for name in form:
        values = form.getlist(name)
        if len(values) != 1:
            raise _invalid(f"{name}: given more than once")
        fields[name] = values[0]
    return files["file"].read(MAX_UPLOAD_BYTES + 1), fields
