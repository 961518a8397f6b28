"""A notebook's `.ipynb` file: validation, Cloud Storage, and attaching it to the record.

Invariants:
- Nothing is stored unless the upload is a `.ipynb` of at most 10 MiB that decodes as JSON
  (depth-checked before decoding), is an nbformat 4 notebook that `nbformat` validates, has
  a `metadata` object and at least one code cell. Every refusal is ERR_2001 with a message
  that names the problem.
- The bytes stored are exactly the bytes uploaded, and the download returns them unchanged.
- Each upload is a new object (`market/notebooks/<id>/<upload id>.ipynb`) attached to the
  record by a preconditioned write (`notebooks.change`); only after that write lands is the
  previous object deleted, and an upload that loses its race deletes its own object. So a
  racing delete, publish or second upload never leaves the record naming a missing object.
- A published notebook keeps its file: replacing or deleting it needs an unpublish first
  (ERR_4004); an archived notebook's file cannot change (ERR_3004).
"""

from __future__ import annotations

import contextlib
import uuid
import warnings
from typing import Any

from google.api_core import exceptions as gexc

from shared.engine import clock, outputs, validate
from shared.engine.errors import AppError, ErrorKind
from shared.market import notebooks
from shared.market.notebooks import NotebookRecord, NotebookStatus

MAX_FILE_BYTES = 10 * 1024 * 1024
CONTENT_TYPE = "application/x-ipynb+json"
SUPPORTED_MAJOR = 4


def invalid(message: str) -> AppError:
    return AppError(ErrorKind.INVALID, message, {"code": "ERR_2001"})


def check_notebook(*, filename: str | None, data: bytes) -> None:
    """Refuse anything the document's file requirements refuse (ERR_2001)."""
    if not filename or not filename.lower().endswith(".ipynb"):
        raise invalid("Invalid file type (only .ipynb allowed)")
    if len(data) > MAX_FILE_BYTES:
        raise invalid("File too large (max 10MB)")
    if not data.strip():
        raise invalid("Invalid notebook structure: the file is empty")
    try:
        document = validate.loads_json(data)
    except AppError:
        raise invalid("Invalid notebook structure: the file is not valid JSON") from None
    if not isinstance(document, dict):
        raise invalid("Invalid notebook structure: the file must hold a JSON object")
    major = document.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        raise invalid("Invalid notebook structure: missing nbformat version")
    if major != SUPPORTED_MAJOR:
        raise invalid(f"Invalid notebook structure: nbformat {major} is not supported (use 4)")
    minor = document.get("nbformat_minor")
    if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
        raise invalid("Invalid notebook structure: missing nbformat_minor version")
    if not isinstance(document.get("metadata"), dict):
        raise invalid("Invalid notebook structure: missing metadata object")
    cells = document.get("cells")
    if not isinstance(cells, list):
        raise invalid("Invalid notebook structure: missing cells array")
    if not any(isinstance(c, dict) and c.get("cell_type") == "code" for c in cells):
        raise invalid("Invalid notebook structure: the notebook has no code cell")
    _validate_schema(document)


def _validate_schema(document: dict[str, Any]) -> None:
    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat warns about ids it would repair
            # from_dict copies: validation may normalise what it validates.
            nbformat.validate(nbformat.from_dict(document))
    except (nbformat.ValidationError, nbformat.NBFormatError) as exc:
        reason = str(getattr(exc, "message", "") or exc).splitlines()[0][:300]
        raise invalid(f"Invalid notebook structure: {reason}") from None
    except (TypeError, ValueError, KeyError, AssertionError):
        # nbformat's normalisation trips over some malformed documents (a cell id that is a
        # list, say) before its schema would refuse them: still the client's bad input.
        raise invalid("Invalid notebook structure") from None


def object_name(notebook_id: str) -> str:
    return f"market/notebooks/{notebook_id}/{uuid.uuid4().hex}.ipynb"


def delete_object(path: str) -> None:
    with contextlib.suppress(gexc.NotFound):  # already gone: deleting is idempotent
        outputs.bucket().blob(path).delete()


def upload(
    *, developer_id: str, notebook_id: str, filename: str | None, data: bytes
) -> NotebookRecord:
    """Validate, store as a new object, attach it; the previous file is deleted after."""
    _refuse_file_change(notebooks.get_own(developer_id=developer_id, notebook_id=notebook_id))
    check_notebook(filename=filename, data=data)
    path = object_name(notebook_id)
    outputs.bucket().blob(path).upload_from_string(data, content_type=CONTENT_TYPE)
    replaced: list[str | None] = [None]

    def decide(record: NotebookRecord) -> dict[str, Any]:
        _refuse_file_change(record)
        replaced[0] = record.file_path
        return {"file_path": path, "file_size": len(data), "file_uploaded_at": clock.now()}

    try:
        record = notebooks.change(
            developer_id=developer_id,
            notebook_id=notebook_id,
            decide=decide,
            label="market.notebook.file",
        )
    except BaseException:
        delete_object(path)
        raise
    if replaced[0] and replaced[0] != path:
        delete_object(replaced[0])
    return record


def _refuse_file_change(record: NotebookRecord) -> None:
    if record.status is NotebookStatus.PUBLISHED:
        raise notebooks.published_locked(
            "A published notebook keeps its file: unpublish it to replace or delete the file"
        )
    if record.status is NotebookStatus.ARCHIVED:
        raise notebooks.state_invalid("An archived notebook's file cannot change")


def delete_file(*, developer_id: str, notebook_id: str) -> NotebookRecord:
    """Detach the file (preconditioned), then delete its object."""
    detached: list[str | None] = [None]

    def decide(record: NotebookRecord) -> dict[str, Any]:
        if not record.file_path:
            raise notebooks.not_found("No notebook file to delete")
        _refuse_file_change(record)
        detached[0] = record.file_path
        return {"file_path": None, "file_size": None, "file_uploaded_at": None}

    record = notebooks.change(
        developer_id=developer_id,
        notebook_id=notebook_id,
        decide=decide,
        label="market.notebook.file",
    )
    if detached[0]:
        delete_object(detached[0])
    return record


def download(*, developer_id: str, notebook_id: str) -> tuple[NotebookRecord, bytes]:
    """The record and the exact bytes of its current file (ERR_3001 when it has none). A
    read that races a replacement reads the record again."""
    for _ in range(2):
        record = notebooks.get_own(developer_id=developer_id, notebook_id=notebook_id)
        if not record.file_path:
            raise notebooks.not_found("No notebook file uploaded yet")
        try:
            return record, outputs.bucket().blob(record.file_path).download_as_bytes()
        except gexc.NotFound:
            continue
    raise notebooks.not_found("No notebook file uploaded yet")
