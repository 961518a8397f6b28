"""Grid blob uploads are bounded and locked: a declared size is signed into the PUT URL,
an upload out of range or off its declared size is deleted at confirm, a confirmed blob
cannot be changed through its upload URL, and the sweep deletes what was never confirmed."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from botocore.exceptions import ClientError

from shared.engine import clock
from shared.engine.settings import get_settings
from shared.engine.store import db
from shared.grid import blobs
from tests.integration.grid_client import Api, grid_key


def _api(stack) -> Api:
    return Api(stack, grid_key()[1])


def _doc(blob_id: int) -> dict:
    return db().collection(blobs.BLOBS).document(str(blob_id)).get().to_dict()


def _exists(key: str) -> bool:
    try:
        blobs.s3().head_object(Bucket=get_settings().s3_bucket, Key=key)
    except ClientError:
        return False
    return True


def test_a_declared_size_is_signed_into_the_upload_url(stack) -> None:
    api = _api(stack)
    created = api.post("/blobs", json={"blob_type": "document", "size_bytes": 5}).json()
    signed = parse_qs(urlparse(created["upload_url"]).query)["X-Amz-SignedHeaders"][0]
    assert "content-length" in signed.split(";")
    assert httpx.put(created["upload_url"], content=b"12345").status_code == 200
    confirmed = api.post(f"/blobs/{created['blob_id']}/confirm")
    assert confirmed.json() == {"status": "confirmed"}
    assert _doc(created["blob_id"])["size"] == 5
    for size in (0, blobs.MAX_BYTES + 1):
        assert api.post("/blobs", json={"size_bytes": size}).status_code == 422


@pytest.mark.parametrize(
    ("declared", "content"), [(None, b""), (5, b"1234567")], ids=["empty", "off-declared"]
)
def test_an_upload_refused_at_confirm_is_deleted(stack, declared, content: bytes) -> None:
    api = _api(stack)
    body = {} if declared is None else {"size_bytes": declared}
    created = api.post("/blobs", json=body).json()
    doc = _doc(created["blob_id"])
    # The local S3 does not check signatures; production S3 refuses the wrong length at PUT.
    put = httpx.put(created["upload_url"], content=content)
    if put.status_code == 200:
        assert _exists(doc["upload_key"])
        refused = api.post(f"/blobs/{created['blob_id']}/confirm")
        assert refused.status_code == 422
        assert not _exists(doc["upload_key"])
        assert _doc(created["blob_id"])["status"] == "rejected"
    else:
        assert put.status_code == 403
    assert api.post(f"/blobs/{created['blob_id']}/confirm").status_code in {404, 422}


def test_a_confirmed_blob_is_locked_at_its_size(stack) -> None:
    api = _api(stack)
    created = api.post("/blobs", json={"blob_type": "image"}).json()
    assert httpx.put(created["upload_url"], content=b"original").status_code == 200
    assert api.post(f"/blobs/{created['blob_id']}/confirm").status_code == 200
    # The upload URL is still valid for a while: writing through it changes nothing.
    assert httpx.put(created["upload_url"], content=b"swapped, and much larger").status_code == 200
    assert api.post(f"/blobs/{created['blob_id']}/confirm").status_code == 200
    [handed] = blobs.assignment_blobs([created["blob_id"]])
    assert httpx.get(handed["url"]).content == b"original"
    assert _doc(created["blob_id"])["size"] == len(b"original")


def test_the_sweep_deletes_uploads_never_confirmed(stack) -> None:
    api = _api(stack)
    pending = api.post("/blobs", json={}).json()
    locked = api.post("/blobs", json={}).json()
    for blob in (pending, locked):
        assert httpx.put(blob["upload_url"], content=uuid.uuid4().bytes).status_code == 200
    assert api.post(f"/blobs/{locked['blob_id']}/confirm").status_code == 200
    assert httpx.put(locked["upload_url"], content=b"late write").status_code == 200
    keys = {b["blob_id"]: _doc(b["blob_id"])["upload_key"] for b in (pending, locked)}
    # Before the URLs expire nothing is touched.
    blobs.sweep_uploads(clock.now())
    assert all(_exists(k) for k in keys.values())
    later = clock.now() + dt.timedelta(seconds=blobs.UPLOAD_TTL_S + blobs.SWEEP_MARGIN_S + 1)
    assert blobs.sweep_uploads(later) >= 2
    assert not any(_exists(k) for k in keys.values())
    assert _doc(pending["blob_id"])["status"] == "expired"
    assert api.post(f"/blobs/{pending['blob_id']}/confirm").status_code == 422
    assert _doc(locked["blob_id"])["status"] == "confirmed"
    [handed] = blobs.assignment_blobs([locked["blob_id"]])
    assert httpx.get(handed["url"]).status_code == 200
