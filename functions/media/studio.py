"""Killa Tamata Studio (everything but the agent): projects, settings, the workspace snapshot,
conversations, assets, text documents and storyboards under /api/v1/studio.

Each handler parses, authenticates, makes one service call and renders. Bodies are read under
the upload cap (MAX_UPLOAD_BYTES, 413 past it); a JSON body over http.MAX_BODY_BYTES is 413
too, so only the upload route takes large bodies. Creates answer 201, reads and patches 200.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from werkzeug.exceptions import HTTPException

from functions.http import MAX_BODY_BYTES, entry_point, json_response, parse_json, read_body
from functions.media.site import authenticate, render_error
from shared.engine import validate
from shared.engine.errors import AppError, ErrorKind
from shared.media.studio import (
    assets,
    bodies,
    document_store,
    documents,
    listing,
    settings,
    snapshot,
    storyboards,
    uploads,
    views,
    workspace,
)
from shared.media.studio.models import Asset

API = "/api/v1/studio"


def _json(request: flask.Request) -> Any:
    if len(read_body(request)) > MAX_BODY_BYTES:
        raise AppError(ErrorKind.TOO_LARGE, "Request body is too large")
    return parse_json(request)


def _id(request: flask.Request, name: str) -> str:
    raw = request.args.get(name)
    if not raw:
        raise AppError(ErrorKind.INVALID, f"{name}: is required")
    return validate.doc_id(raw, name=name)


def _if_match(request: flask.Request) -> str | None:
    return request.headers.get("If-Match")


def get_snapshot(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    return json_response(snapshot.build(caller.account_id))


def create_project(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = bodies.parse(bodies.ProjectCreate, _json(request))
    project = workspace.create_project(
        account_id=caller.account_id, title=body.title, description=body.description
    )
    return json_response(views.project(project), 201)


def update_project(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = bodies.parse(bodies.ProjectUpdate, _json(request))
    project = workspace.update_project(
        account_id=caller.account_id,
        project_id=body.project_id,
        title=body.title,
        description=body.description,
    )
    return json_response(views.project(project))


def update_settings(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = bodies.parse(bodies.SettingsUpdate, _json(request))
    return json_response(settings.update(account_id=caller.account_id, body=body))


def create_thread(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = bodies.parse(bodies.ThreadCreate, _json(request))
    workspace.owned_project(caller.account_id, body.project_id)
    model, level = settings.thread_defaults(caller.account_id)
    thread = workspace.create_thread(
        account_id=caller.account_id,
        project_id=body.project_id,
        title=body.title or "New conversation",
        agent_model=body.agent_model or model,
        reasoning_level=body.reasoning_level or level,
    )
    return json_response(views.thread_detail(thread, []), 201)


def select_thread(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = bodies.parse(bodies.ThreadSelect, _json(request))
    thread = settings.select_thread(account_id=caller.account_id, thread_id=body.thread_id)
    return json_response(views.thread_detail(thread, workspace.messages(thread)))


def thread_detail(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    thread = workspace.owned_thread(caller.account_id, _id(request, "threadId"))
    return json_response(views.thread_detail(thread, workspace.messages(thread)))


def rename_thread(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = bodies.parse(bodies.ThreadRename, _json(request))
    thread = workspace.rename_thread(
        account_id=caller.account_id, thread_id=body.thread_id, title=body.title
    )
    return json_response(views.thread(thread))


def list_assets(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    args = request.args
    page = listing.list_assets(
        account_id=caller.account_id,
        project_id=_id(request, "projectId"),
        scope=listing.parse_scope(args.get("scope")),
        search=listing.parse_search(args.get("searchQuery")),
        offset=validate.query_int(
            args.get("offset"), name="offset", default=0, minimum=0, maximum=listing.MAX_OFFSET
        ),
        limit=validate.query_int(
            args.get("limit"),
            name="limit",
            default=listing.DEFAULT_LIMIT,
            minimum=1,
            maximum=listing.MAX_LIMIT,
        ),
    )
    return json_response(
        {
            "assets": [views.asset(a) for a in page.assets],
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
            "nextOffset": page.next_offset,
        }
    )


def _upload_bytes(request: flask.Request) -> bytes:
    """The document's application/octet-stream body; a multipart/form-data body with exactly
    one file part is accepted too (its part's bytes; the part's own headers are ignored)."""
    data = read_body(request)
    if request.mimetype != "multipart/form-data":
        return data
    try:
        files = list(request.files.values())
    except HTTPException:  # Werkzeug's form limits (a text field over 500 KB, too many parts)
        raise AppError(ErrorKind.INVALID, "body: not a usable multipart upload") from None
    if len(files) != 1:
        raise AppError(ErrorKind.INVALID, "body: a multipart upload must hold exactly one file")
    return files[0].read()


def upload_asset(request: flask.Request) -> flask.Response:
    caller = authenticate(request, file_body=True)
    project_id = _id(request, "projectId")
    filename = uploads.check_filename(request.args.get("filename"))
    asset = uploads.upload(
        account_id=caller.account_id,
        project_id=project_id,
        filename=filename,
        data=_upload_bytes(request),
    )
    return json_response(views.asset(asset), 201)


def update_metadata(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = bodies.parse(bodies.MetadataPatch, _json(request))
    return json_response(
        views.asset(listing.update_metadata(account_id=caller.account_id, body=body))
    )


def _document(doc: documents.TextDocument, status: int = 200) -> flask.Response:
    return json_response(doc.public(), status, {"ETag": doc.etag})


def _storyboard_view(board: storyboards.Storyboard) -> dict[str, Any]:
    return {
        "assetId": board.asset_id,
        "projectId": board.project_id,
        "title": board.title,
        "storyboard": board.storyboard.dump(),
        "revision": board.revision,
        "etag": board.etag,
    }


def _storyboard(board: storyboards.Storyboard) -> flask.Response:
    return json_response(_storyboard_view(board), 200, {"ETag": board.etag})


def create_text(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = documents.parse_create(_json(request))
    asset, doc = assets.create_text(account_id=caller.account_id, body=body)
    return json_response(
        {"asset": views.asset(asset), "document": doc.public()}, 201, {"ETag": doc.etag}
    )


def get_text(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    asset_id = _id(request, "assetId")
    return _document(document_store.get_text(account_id=caller.account_id, asset_id=asset_id))


def patch_text(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    patch = documents.parse_patch(_json(request))
    doc = document_store.patch_text(
        account_id=caller.account_id, patch=patch, if_match=_if_match(request)
    )
    return _document(doc)


def _created_storyboard(asset: Asset, board: storyboards.Storyboard) -> flask.Response:
    return json_response(
        {"asset": views.asset(asset), "storyboard": _storyboard_view(board)},
        201,
        {"ETag": board.etag},
    )


def create_storyboard(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = storyboards.parse_create(_json(request))
    return _created_storyboard(*assets.create_storyboard(account_id=caller.account_id, body=body))


def get_storyboard(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    asset_id = _id(request, "assetId")
    return _storyboard(
        document_store.get_storyboard(account_id=caller.account_id, asset_id=asset_id)
    )


def patch_storyboard(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    patch = storyboards.parse_patch(_json(request))
    board = document_store.patch_storyboard(
        account_id=caller.account_id, patch=patch, if_match=_if_match(request)
    )
    return _storyboard(board)


def import_storyboard(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = bodies.parse(bodies.StoryboardImport, _json(request))
    return _created_storyboard(
        *document_store.import_storyboard(account_id=caller.account_id, body=body)
    )


def export_markdown(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    asset_id = _id(request, "assetId")
    return json_response(
        document_store.export_markdown(account_id=caller.account_id, asset_id=asset_id)
    )


_handle = entry_point(
    [
        ("GET", f"{API}/snapshot", get_snapshot),
        ("POST", f"{API}/projects", create_project),
        ("PATCH", f"{API}/projects/update", update_project),
        ("GET", f"{API}/projects/assets", list_assets),
        ("PATCH", f"{API}/settings", update_settings),
        ("POST", f"{API}/threads", create_thread),
        ("POST", f"{API}/threads/select", select_thread),
        ("GET", f"{API}/threads/detail", thread_detail),
        ("PATCH", f"{API}/threads/update", rename_thread),
        ("POST", f"{API}/assets/upload", upload_asset),
        ("PATCH", f"{API}/assets/metadata", update_metadata),
        ("POST", f"{API}/assets/text", create_text),
        ("GET", f"{API}/assets/text/document", get_text),
        ("PATCH", f"{API}/assets/text/document", patch_text),
        ("POST", f"{API}/assets/storyboards", create_storyboard),
        ("GET", f"{API}/assets/storyboards/document", get_storyboard),
        ("PATCH", f"{API}/assets/storyboards/document", patch_storyboard),
        ("POST", f"{API}/assets/storyboards/import", import_storyboard),
        ("GET", f"{API}/assets/storyboards/export-markdown", export_markdown),
    ],
    render_error,
    max_body_bytes=uploads.MAX_UPLOAD_BYTES,
)


@functions_framework.http
def media_studio(request: flask.Request) -> flask.Response:
    return _handle(request)
