"""Grid blobs: attachments clients upload straight to S3 with a presigned PUT URL.

A blob is `grid_blobs/<id>` (pending -> confirmed | rejected | expired). What holds:
- An upload is bounded: S3's presigned PUT cannot carry a content-length *range*, so a
  client that declares `size_bytes` (1 byte to MAX_BYTES) gets a URL whose signature
  covers exactly that Content-Length; every upload is checked against the range (and the
  declared size) at confirm.
- The size is locked at confirm: the checked object is copied (If-Match its ETag) to the
  blob's own key, which no URL can write, and the upload key is deleted; workers get a
  presigned GET of the locked copy, so a later PUT to the upload URL changes nothing.
- Nothing unconfirmed stays: an upload refused at confirm is deleted at once, and the
  sweep deletes every upload key whose URL has expired (`upload_open_until`), marking
  blobs never confirmed `expired`.
Locally S3 is a moto server; production is AWS S3. Only the endpoint differs.
"""

from __future__ import annotations

import datetime as dt
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
SWEEP_MARGIN_S = 60  # an upload URL's last second may still be writing
SWEEP_BATCH = 200


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


def _in_range(size: int) -> bool:
    return 1 <= size <= MAX_BYTES


def create(*, account_id: str, blob_type: str, size_bytes: int | None = None) -> dict[str, Any]:
    if blob_type not in BLOB_TYPES:
        raise AppError(ErrorKind.INVALID, "blob_type must be image or document")
    if size_bytes is not None and not _in_range(size_bytes):
        raise AppError(ErrorKind.INVALID, f"size_bytes must be 1 to {MAX_BYTES}")
    now = clock.now()
    for _ in range(5):
        blob_id = new_id()
        key = f"blobs/{account_id}/{blob_id}"
        try:
            _ref(blob_id).create(
                {
                    "account_id": account_id,
                    "type": blob_type,
                    "upload_key": f"{key}/upload",
                    "key": key,
                    "declared_size": size_bytes,
                    "status": "pending",
                    "created_at": now,
                    "upload_open_until": now + dt.timedelta(seconds=UPLOAD_TTL_S),
                }
            )
            break
        except CONFLICTS:
            continue
    else:
        raise AppError(ErrorKind.UNAVAILABLE, "could not allocate a blob id, retry")
    params: dict[str, Any] = {"Bucket": get_settings().s3_bucket, "Key": f"{key}/upload"}
    if size_bytes is not None:
        params["ContentLength"] = size_bytes  # signed: S3 refuses any other length
    url = s3().generate_presigned_url("put_object", Params=params, ExpiresIn=UPLOAD_TTL_S)
    return {"blob_id": blob_id, "upload_url": url, "expires_in": UPLOAD_TTL_S}


def _owned(account_id: str, blob_id: int) -> dict[str, Any]:
    snap = _ref(blob_id).get()
    if not snap.exists or snap.get("account_id") != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "not_found")
    return snap.to_dict()


def confirm(*, account_id: str, blob_id: int) -> None:
    """Check the upload and lock it (see the module's rules); a confirmed blob confirms
    again as it is. An upload out of range is deleted and the blob rejected (422)."""
    from botocore.exceptions import ClientError

    blob = _owned(account_id, blob_id)
    if blob["status"] == "confirmed":
        return
    if blob["status"] != "pending":
        raise AppError(ErrorKind.INVALID, f"blob is {blob['status']}")
    bucket = get_settings().s3_bucket
    try:
        head = s3().head_object(Bucket=bucket, Key=blob["upload_key"])
    except ClientError as exc:
        if _owned(account_id, blob_id)["status"] == "confirmed":
            return  # a concurrent confirm locked it first
        raise AppError(ErrorKind.NOT_FOUND, "not_found") from exc
    size = int(head["ContentLength"])
    declared = blob.get("declared_size")
    if not _in_range(size) or (declared is not None and size != declared):
        s3().delete_object(Bucket=bucket, Key=blob["upload_key"])
        _ref(blob_id).update({"status": "rejected", "size": size})
        raise AppError(ErrorKind.INVALID, f"blob must be 1 byte to {MAX_BYTES} bytes, as declared")
    try:
        s3().copy_object(
            Bucket=bucket,
            Key=blob["key"],
            CopySource={"Bucket": bucket, "Key": blob["upload_key"]},
            CopySourceIfMatch=head["ETag"],
        )
    except ClientError as exc:
        # Overwritten between the check and the copy: check again.
        raise AppError(ErrorKind.CONFLICT, "the upload changed while confirming; retry") from exc
    s3().delete_object(Bucket=bucket, Key=blob["upload_key"])
    _ref(blob_id).update({"status": "confirmed", "size": size, "confirmed_at": clock.now()})


def sweep_uploads(now: dt.datetime) -> int:
    """Delete upload keys whose URL has expired; blobs never confirmed become `expired`.
    Returns how many blobs were swept."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    cutoff = now - dt.timedelta(seconds=SWEEP_MARGIN_S)
    query = (
        db()
        .collection(BLOBS)
        .where(filter=FieldFilter("upload_open_until", "<", cutoff))
        .limit(SWEEP_BATCH)
    )
    swept = 0
    for snap in query.stream():
        s3().delete_object(Bucket=get_settings().s3_bucket, Key=snap.get("upload_key"))
        update: dict[str, Any] = {"upload_open_until": firestore.DELETE_FIELD}
        if snap.get("status") == "pending":
            update["status"] = "expired"
        try:
            _ref(int(snap.id)).update(
                update, option=firestore.Client.write_option(last_update_time=snap.update_time)
            )
        except CONFLICTS:
            continue  # confirmed meanwhile: the next sweep looks again
        swept += 1
    return swept


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
