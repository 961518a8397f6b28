"""Tarsify notebooks (deprecated): /api/studio/notebooks/*, /api/marketplace/notebooks/*.

Every response, errors included, carries `Deprecation: @1771200000` (RFC 9745: the
document's 2026-02-16) and a `Link` to the successor (tars models). The routes keep working
as documented. The update route is served as PUT (the document's second
`DELETE /notebooks/:id`, "Update notebook details"). The body limit covers a 10 MiB upload
plus multipart overhead; the file's own 10 MiB limit is checked by the service.
"""

import flask
import functions_framework
from werkzeug.exceptions import RequestEntityTooLarge

from functions.market.site import (
    body,
    error,
    market_entry,
    ok,
    path_id,
    path_slug,
    public,
    query,
    studio_caller,
)
from shared.market import notebook_files, notebook_views, notebooks

DEPRECATION = "@1771200000"
SUCCESSORS = {
    "/api/studio/": "</api/studio/tars-models>",
    "/api/marketplace/": "</api/marketplace/models>",
}
MAX_BODY_BYTES = notebook_files.MAX_FILE_BYTES + (1 << 20)


def list_notebooks(request: flask.Request) -> flask.Response:
    caller = studio_caller(request)
    params = query(request, notebook_views.StudioListQuery)
    items, meta = notebook_views.studio_page(developer_id=caller.account_id, query=params)
    return ok(items, meta=meta)


def create_notebook(request: flask.Request) -> flask.Response:
    caller = studio_caller(request)
    payload = body(request, notebooks.NotebookCreate)
    record = notebooks.create(developer_id=caller.account_id, body=payload)
    return ok(notebook_views.created(record), 201)


def get_notebook(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    record = notebooks.get_own(developer_id=caller.account_id, notebook_id=path_id(item_id))
    return ok(notebook_views.studio_detail(record))


def update_notebook(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    notebook_id = path_id(item_id)
    payload = body(request, notebooks.NotebookUpdate)
    record = notebooks.update(developer_id=caller.account_id, notebook_id=notebook_id, body=payload)
    return ok(notebook_views.updated(record))


def delete_notebook(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    record, status = notebooks.remove(developer_id=caller.account_id, notebook_id=path_id(item_id))
    return ok(notebook_views.removed(record, status))


def _upload(request: flask.Request) -> tuple[str | None, bytes]:
    """The multipart `file` part: (filename, bytes)."""
    if request.mimetype != "multipart/form-data":
        raise error("ERR_2001", "Content-Type must be multipart/form-data with a `file` field")
    try:
        files = request.files.getlist("file")
    except RequestEntityTooLarge:
        raise error("ERR_2001", "The form's fields are too large") from None
    if not files:
        raise error("ERR_2004", "file is required", field="file")
    if len(files) > 1:
        raise error("ERR_2001", "Upload one file at a time")
    return files[0].filename, files[0].read(notebook_files.MAX_FILE_BYTES + 1)


def upload_file(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    notebook_id = path_id(item_id)
    filename, data = _upload(request)
    record = notebook_files.upload(
        developer_id=caller.account_id, notebook_id=notebook_id, filename=filename, data=data
    )
    return ok(notebook_views.file_uploaded(record))


def download_file(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    record, data = notebook_files.download(
        developer_id=caller.account_id, notebook_id=path_id(item_id)
    )
    return flask.Response(
        data,
        status=200,
        mimetype=notebook_files.CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{record.slug}.ipynb"'},
    )


def delete_file(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    record = notebook_files.delete_file(
        developer_id=caller.account_id, notebook_id=path_id(item_id)
    )
    return ok(notebook_views.file_deleted(record))


def publish(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    record = notebooks.publish(developer_id=caller.account_id, notebook_id=path_id(item_id))
    return ok(notebook_views.published(record))


def unpublish(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    record = notebooks.unpublish(developer_id=caller.account_id, notebook_id=path_id(item_id))
    return ok(notebook_views.unpublished(record))


def market_list(request: flask.Request) -> flask.Response:
    public(request)
    params = query(request, notebook_views.MarketListQuery)
    items, meta = notebook_views.market_page(query=params)
    return ok(items, meta=meta)


def market_get(request: flask.Request, slug: str) -> flask.Response:
    public(request)
    record = notebooks.get_published(path_slug(slug))
    return ok(notebook_views.market_detail(record))


_STUDIO = "/api/studio/notebooks"
_handle = market_entry(
    [
        ("GET", _STUDIO, list_notebooks),
        ("POST", _STUDIO, create_notebook),
        ("GET", f"{_STUDIO}/<item_id>", get_notebook),
        ("PUT", f"{_STUDIO}/<item_id>", update_notebook),
        ("DELETE", f"{_STUDIO}/<item_id>", delete_notebook),
        ("POST", f"{_STUDIO}/<item_id>/file", upload_file),
        ("GET", f"{_STUDIO}/<item_id>/file", download_file),
        ("DELETE", f"{_STUDIO}/<item_id>/file", delete_file),
        ("POST", f"{_STUDIO}/<item_id>/publish", publish),
        ("POST", f"{_STUDIO}/<item_id>/unpublish", unpublish),
        ("GET", "/api/marketplace/notebooks", market_list),
        ("GET", "/api/marketplace/notebooks/<slug>", market_get),
    ],
    max_body_bytes=MAX_BODY_BYTES,
)


def _deprecated(request: flask.Request, response: flask.Response) -> flask.Response:
    response.headers["Deprecation"] = DEPRECATION
    path = request.script_root + request.path
    successor = next((s for p, s in SUCCESSORS.items() if path.startswith(p)), None)
    successor = successor or SUCCESSORS["/api/studio/"]
    response.headers["Link"] = f'{successor}; rel="successor-version"'
    return response


@functions_framework.http
def market_notebooks(request: flask.Request) -> flask.Response:
    return _deprecated(request, _handle(request))
