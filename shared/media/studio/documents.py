"""Studio text documents: the create and patch bodies, the 512 KiB cap and the revision rule.

- A text document's `content` is at most MAX_CONTENT_BYTES (512 KiB) of UTF-8; the cap is
  counted in encoded bytes, so multi-byte text reaches it sooner than the character count
  suggests. Over the cap is TOO_LARGE; a lone surrogate (not encodable) is INVALID.
- Create and patch bodies are strict: unknown keys, wrong types and out-of-bound values are
  `AppError(INVALID, "<field>: <reason>")`; nothing else is raised for any client body.
- Every stored version has a `revision` (1 on create) and a strong ETag `"r<revision>"`.
  `apply_patch` is pure: it returns a new version with `revision + 1`, or raises CONFLICT
  (`details.code == "revision_conflict"`, with the current revision and ETag) when the
  client's `revision` or `If-Match` is stale, leaving `current` untouched. A patch that
  changes nothing returns `current` as it is, so a retried write answers as applied.
- If-Match follows RFC 9110 section 13.1.1: `*` or a list of entity tags, compared strongly,
  so a weak tag (`W/"..."`) never matches. A malformed header is INVALID.
- A patch without `revision` or `If-Match` overwrites (the seed document's clients send
  neither); the storage layer calls `apply_patch` inside the transaction that reads `current`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from shared.engine.errors import AppError, ErrorKind
from shared.engine.validate import MAX_INT, DocId

MAX_CONTENT_BYTES: Final = 512 * 1024
MAX_TITLE_CHARS: Final = 120
MAX_MIME_CHARS: Final = 120
MAX_IF_MATCH_CHARS: Final = 8 * 1024
DEFAULT_MIME: Final = "text/plain"
REVISION_CONFLICT: Final = "revision_conflict"

# type/subtype with RFC 9110 token characters, optional parameters (`; charset=utf-8`).
_MIME = re.compile(
    r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+"
    r"(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|\"[^\"\\]*\"))*"
)
# One entity tag (RFC 9110 section 8.8.3): optional W/, then "etagc*".
_ETAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
_OWS = re.compile(r"[ \t]*")

Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS)]
Revision = Annotated[int, Field(ge=1, le=MAX_INT)]


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel
    )


class TextDocumentCreate(_Body):
    """POST /api/v1/studio/assets/text."""

    project_id: DocId
    title: Title
    content: str = ""
    mime_type: Annotated[str, Field(min_length=1, max_length=MAX_MIME_CHARS, pattern=_MIME)] = (
        DEFAULT_MIME
    )


class TextDocumentPatch(_Body):
    """PATCH /api/v1/studio/assets/text/document; `revision` is the one this edit is based on."""

    asset_id: DocId
    title: Title | None = None
    content: str
    revision: Revision | None = None


class TextDocument(BaseModel):
    """One stored version of a text document (what the storage layer persists)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_id: str
    project_id: str
    title: str
    content: str
    mime_type: str = DEFAULT_MIME
    revision: int = 1

    @property
    def etag(self) -> str:
        return etag_for(self.revision)

    def public(self) -> dict[str, Any]:
        """The camelCase shape a site renders (content, size in bytes, revision, ETag)."""
        return {
            "assetId": self.asset_id,
            "projectId": self.project_id,
            "title": self.title,
            "content": self.content,
            "mimeType": self.mime_type,
            "sizeBytes": len(self.content.encode("utf-8")),
            "revision": self.revision,
            "etag": self.etag,
        }


def validation_message(exc: ValidationError) -> str:
    """`<field path>: <reason>` for the first error, camelCase path as the client sent it."""
    error = exc.errors(include_url=False)[0]
    path = ".".join(str(part) for part in error["loc"])
    text = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        text = "is not a known field"
    return f"{path}: {text}" if path else text


def check_text_size(value: object, *, field: str, limit: int = MAX_CONTENT_BYTES) -> None:
    """TOO_LARGE when `value` is a string over `limit` UTF-8 bytes; INVALID if not encodable."""
    if not isinstance(value, str):
        return
    if len(value) > limit:  # every character is at least one byte: no need to encode
        raise AppError(ErrorKind.TOO_LARGE, f"{field}: must be at most {limit} bytes of UTF-8")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise AppError(ErrorKind.INVALID, f"{field}: must be valid Unicode text") from None
    if size > limit:
        raise AppError(ErrorKind.TOO_LARGE, f"{field}: must be at most {limit} bytes of UTF-8")


_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], data: object) -> _M:
    if not isinstance(data, dict):
        raise AppError(ErrorKind.INVALID, "the body must be a JSON object")
    check_text_size(data.get("content"), field="content")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AppError(ErrorKind.INVALID, validation_message(exc)) from None


def parse_create(data: object) -> TextDocumentCreate:
    """The create body, or INVALID / TOO_LARGE naming the field."""
    return _parse(TextDocumentCreate, data)


def parse_patch(data: object) -> TextDocumentPatch:
    """The patch body, or INVALID / TOO_LARGE naming the field."""
    return _parse(TextDocumentPatch, data)


def new_document(*, asset_id: str, body: TextDocumentCreate) -> TextDocument:
    """Revision 1 of a new document."""
    return TextDocument(
        asset_id=asset_id,
        project_id=body.project_id,
        title=body.title,
        content=body.content,
        mime_type=body.mime_type,
    )


def etag_for(revision: int) -> str:
    """The strong ETag of a revision: `"r<revision>"`."""
    return f'"r{revision}"'


def parse_if_match(header: str) -> tuple[str, ...] | None:
    """None for `*`; otherwise the entity tags listed, each as sent (`W/"x"` or `"x"`).

    Empty list elements are skipped (RFC 9110 section 5.6.1); a header with no tag, a
    malformed tag or over MAX_IF_MATCH_CHARS is INVALID."""
    if len(header) > MAX_IF_MATCH_CHARS:
        raise AppError(ErrorKind.INVALID, f"If-Match: must be at most {MAX_IF_MATCH_CHARS} chars")
    if header.strip(" \t") == "*":
        return None
    tags: list[str] = []
    pos, end = 0, len(header)
    while pos < end:
        pos = _OWS.match(header, pos).end()  # type: ignore[union-attr]
        if pos < end and header[pos] == ",":
            pos += 1
            continue
        if pos == end:
            break
        tag = _ETAG.match(header, pos)
        if tag is None:
            raise AppError(ErrorKind.INVALID, "If-Match: must be * or a list of entity tags")
        tags.append(tag.group(0))
        pos = _OWS.match(header, tag.end()).end()  # type: ignore[union-attr]
        if pos < end and header[pos] != ",":
            raise AppError(ErrorKind.INVALID, "If-Match: entity tags must be comma-separated")
    if not tags:
        raise AppError(ErrorKind.INVALID, "If-Match: must be * or a list of entity tags")
    return tuple(tags)


def if_match_holds(header: str, *, current_revision: int) -> bool:
    """RFC 9110 If-Match against an existing resource: `*`, or a strong match of its ETag."""
    tags = parse_if_match(header)
    if tags is None:
        return True
    current = etag_for(current_revision)
    return any(tag == current for tag in tags)  # a W/ tag never equals a strong one


def check_precondition(
    *, current_revision: int, expected_revision: int | None, if_match: str | None
) -> None:
    """CONFLICT (revision_conflict) unless every precondition given holds for the current
    revision; no precondition at all holds. Shared by every revisioned Studio document."""
    stale = expected_revision is not None and expected_revision != current_revision
    if if_match is not None and not if_match_holds(if_match, current_revision=current_revision):
        stale = True
    if stale:
        raise AppError(
            ErrorKind.CONFLICT,
            f"revision: the document is at revision {current_revision}; reload and retry",
            {
                "code": REVISION_CONFLICT,
                "currentRevision": current_revision,
                "etag": etag_for(current_revision),
            },
        )


def apply_patch(
    current: TextDocument,
    patch: TextDocumentPatch,
    *,
    expected_revision: int | None = None,
    if_match: str | None = None,
) -> TextDocument:
    """The next version of `current` with `patch` applied (revision + 1); CONFLICT when the
    body's `revision`, `expected_revision` or `if_match` is stale. `current` never changes."""
    if patch.asset_id != current.asset_id:
        raise AppError(ErrorKind.INVALID, "assetId: does not name this document")
    title = patch.title if patch.title is not None else current.title
    if title == current.title and patch.content == current.content:
        if if_match is not None:
            parse_if_match(if_match)  # a malformed header is still the client's fault
        return current
    for revision in (patch.revision, expected_revision):
        check_precondition(
            current_revision=current.revision, expected_revision=revision, if_match=None
        )
    check_precondition(current_revision=current.revision, expected_revision=None, if_match=if_match)
    return current.model_copy(
        update={"title": title, "content": patch.content, "revision": current.revision + 1}
    )
