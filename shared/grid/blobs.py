"""Grid blobs: attachments clients upload straight to S3 with a presigned PUT URL.

A blob is `grid_blobs/<id>` (pending -> confirmed). Confirmation checks the object is
really there, with its size, before a job may reference it; workers get a presigned GET.
Locally S3 is a moto server; production is AWS S3. Only the endpoint differs.
"""

from __future__ import annotations

import functools
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, db
from shared.grid.ids import new_id

BLOBS = "grid_blobs"
UPLOAD_TTL_S = 900
DOWNLOAD_TTL_S = 3600
MAX_BYTES = 20 * 1024 * 1024
BLOB_TYPES = ("image", "document")


@functools.cache
def s3() -> Any:
    import boto3
    from botocore.config import Config

    settings = get_settings()
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        config=Config(signature_version="s3v4"),
    )


def ensure_bucket() -> None:
    """Create the blob bucket if missing (local stack; production declares it in infra/)."""
    from botocore.exceptions import ClientError

    try:
        s3().head_bucket(Bucket=get_settings().s3_bucket)
    except ClientError:
        s3().create_bucket(Bucket=get_settings().s3_bucket)


def _ref(blob_id: int) -> Any:
    return db().collection(BLOBS).document(str(blob_id))


def create(*, account_id: str, blob_type: str) -> dict[str, Any]:
    if blob_type not in BLOB_TYPES:
        raise AppError(ErrorKind.INVALID, "blob_type must be image or document")
    for _ in range(5):
        blob_id = new_id()
        key = f"blobs/{account_id}/{blob_id}"
        try:
            _ref(blob_id).create(
                {
                    "account_id": account_id,
                    "type": blob_type,
                    "key": key,
                    "status": "pending",
                    "created_at": clock.now(),
                }
            )
            break
        except CONFLICTS:
            continue
    url = s3().generate_presigned_url(
        "put_object",
        Params={"Bucket": get_settings().s3_bucket, "Key": key},
        ExpiresIn=UPLOAD_TTL_S,
    )
    return {"blob_id": blob_id, "upload_url": url, "expires_in": UPLOAD_TTL_S}


def _owned(account_id: str, blob_id: int) -> dict[str, Any]:
    snap = _ref(blob_id).get()
    if not snap.exists or snap.get("account_id") != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "not_found")
    return snap.to_dict()


def confirm(*, account_id: str, blob_id: int) -> None:
    from botocore.exceptions import ClientError

    blob = _owned(account_id, blob_id)
    try:
        head = s3().head_object(Bucket=get_settings().s3_bucket, Key=blob["key"])
    except ClientError as exc:
        raise AppError(ErrorKind.NOT_FOUND, "not_found") from exc
    size = int(head["ContentLength"])
    if size == 0 or size > MAX_BYTES:
        raise AppError(ErrorKind.INVALID, f"blob must be 1 byte to {MAX_BYTES} bytes")
    _ref(blob_id).update({"status": "confirmed", "size": size, "confirmed_at": clock.now()})


def confirmed_blobs(*, account_id: str, blob_ids: list[int]) -> None:
    for blob_id in blob_ids:
        snap = _ref(blob_id).get()
        if (
            not snap.exists
            or snap.get("account_id") != account_id
            or snap.get("status") != "confirmed"
        ):
            message = f"blob {blob_id} is not a confirmed blob of yours"
            raise AppError(ErrorKind.INVALID, message, {"errors": [message]})


def assignment_blobs(blob_ids: list[int]) -> list[dict[str, Any]]:
    if not blob_ids:
        return []
    out = []
    for snap in db().get_all([_ref(b) for b in blob_ids]):
        if not snap.exists:
            continue
        url = s3().generate_presigned_url(
            "get_object",
            Params={"Bucket": get_settings().s3_bucket, "Key": snap.get("key")},
            ExpiresIn=DOWNLOAD_TTL_S,
        )
        out.append({"id": int(snap.id), "type": snap.get("type"), "url": url})
    return out
