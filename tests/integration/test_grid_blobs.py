"""Grid blobs: presigned S3 upload (moto server), confirmation, and hand-over to a worker."""

from __future__ import annotations

import uuid

import httpx

from shared.engine import identity, ledger
from tests.helpers import site_url


def test_uploaded_blob_is_confirmed_attached_and_readable_by_the_worker(stack) -> None:
    account = identity.create_account(email=f"blob-{uuid.uuid4().hex[:10]}@example.com")
    ledger.credit(
        account_id=account.id, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=100_000
    )
    key = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    api = f"{site_url(stack, 'grid')}/api/v1"
    headers = {"Authorization": f"Bearer {key}"}
    created = httpx.post(f"{api}/blobs", headers=headers, json={"blob_type": "document"})
    assert created.status_code == 201
    blob = created.json()
    assert blob["expires_in"] == 900
    # Not uploaded yet: confirmation finds nothing, and a job may not use it.
    assert httpx.post(f"{api}/blobs/{blob['blob_id']}/confirm", headers=headers).status_code == 404
    model = f"b{uuid.uuid4().hex[:6]}:1b"
    refused = httpx.post(
        f"{api}/jobs",
        headers=headers,
        json={"model": model, "prompt": "read it", "blob_ids": [blob["blob_id"]]},
    )
    assert refused.status_code == 422
    content = b"%PDF-1.4 tiny document"
    assert httpx.put(blob["upload_url"], content=content).status_code == 200
    assert httpx.post(f"{api}/blobs/{blob['blob_id']}/confirm", headers=headers).json() == {
        "status": "confirmed"
    }
    job = httpx.post(
        f"{api}/jobs",
        headers=headers,
        json={"model": model, "prompt": "read it", "blob_ids": [blob["blob_id"]]},
    )
    assert job.status_code == 201, job.text
    worker_account = identity.create_account(email=f"bw-{uuid.uuid4().hex[:10]}@example.com")
    worker = {
        "Authorization": "Bearer "
        + identity.create_api_key(account_id=worker_account.id, site=identity.Site.GRID)
    }
    httpx.post(f"{api}/worker/register", headers=worker, json={"models": [{"name": model}]})
    assignment = httpx.get(
        f"{api}/worker/jobs/next", headers=worker, params={"models[]": [model]}, timeout=30
    ).json()
    assert [b["id"] for b in assignment["blobs"]] == [blob["blob_id"]]
    assert assignment["blobs"][0]["type"] == "document"
    assert httpx.get(assignment["blobs"][0]["url"]).content == content


def test_someone_elses_blob_is_not_found(stack) -> None:
    owner = identity.create_account(email=f"bo-{uuid.uuid4().hex[:10]}@example.com")
    other = identity.create_account(email=f"bx-{uuid.uuid4().hex[:10]}@example.com")
    api = f"{site_url(stack, 'grid')}/api/v1"
    owner_key = identity.create_api_key(account_id=owner.id, site=identity.Site.GRID)
    other_key = identity.create_api_key(account_id=other.id, site=identity.Site.GRID)
    blob = httpx.post(
        f"{api}/blobs", headers={"Authorization": f"Bearer {owner_key}"}, json={}
    ).json()
    response = httpx.post(
        f"{api}/blobs/{blob['blob_id']}/confirm", headers={"Authorization": f"Bearer {other_key}"}
    )
    assert response.status_code == 404 and response.json() == {"error": "not_found"}
